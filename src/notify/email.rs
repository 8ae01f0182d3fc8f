//! Email through SMTP (lettre): STARTTLS, implicit TLS or, when explicitly
//! configured, plain; AUTH when a username is set.
//!
//! Each alert is one multipart message (text + HTML). The first alert
//! about a story is its thread's root and every later one replies to the
//! one before, so mail clients show a developing story as one
//! conversation. Feed text is untrusted: every piece of it is escaped
//! into our own small markup (links only when http(s)), so no script,
//! form, remote image or `javascript:` link reaches a mailbox. A user's
//! HTML template can put anything anywhere, so its output goes through
//! ammonia; ours does not need it (a test holds our markup to the same
//! vocabulary), which spares an HTML parse of every message.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::Message;

use crate::config::{EmailConfig, SmtpSecurity};
use crate::outbox::{Alert, AlertBody, SendError, StoryAlert, Thread};
use crate::secret::Secret;
use crate::text::line::one_line;
use crate::tracker::EventKind;

use super::smtp::{Security, SmtpClient, SmtpError};
use super::{render, NotifierError};

pub struct EmailNotifier {
    name: String,
    config: EmailConfig,
    smtp: SmtpClient,
    /// The user's subject, text and HTML templates, if any.
    templates: Option<minijinja::Environment<'static>>,
}

impl EmailNotifier {
    pub fn new(
        name: &str,
        config: EmailConfig,
        password: Option<Secret>,
    ) -> Result<Self, NotifierError> {
        let tls_params = || -> Result<TlsParameters, NotifierError> {
            let mut b = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.tls_ca_file {
                let pem = std::fs::read(path).map_err(|source| NotifierError::ReadCa {
                    path: path.clone(),
                    source,
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|source| NotifierError::BadCa {
                    path: path.clone(),
                    source,
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build().map_err(NotifierError::Tls)
        };
        let security = match config.security {
            SmtpSecurity::Starttls => Security::Starttls(tls_params()?),
            SmtpSecurity::Tls => Security::Tls(tls_params()?),
            SmtpSecurity::None => Security::None,
        };
        let credentials = match (&config.username, &password) {
            (Some(user), Some(pass)) => {
                Some(Credentials::new(user.clone(), pass.expose().to_string()))
            }
            _ => None,
        };
        let smtp = SmtpClient::new(
            config.host.clone(),
            config.port,
            security,
            credentials,
            Duration::from_secs(30),
        );
        let templates = match config.templates() {
            t if t.is_empty() => None,
            t => Some(
                super::template::compile_email(&t).map_err(|(_, e)| NotifierError::Template(e))?,
            ),
        };
        Ok(EmailNotifier {
            name: name.to_string(),
            smtp,
            config,
            templates,
        })
    }

    pub async fn send(&self, alerts: &[Alert]) -> Result<(), SendError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let message = self.message(alerts)?;
        self.smtp
            .send(message.envelope(), &message.formatted())
            .await
            .map_err(|e| self.classify(&e))
    }

    /// SMTP 5xx is permanent (the server refused this message: retrying
    /// sends the same refusal); everything else — connection refused, 4xx,
    /// timeouts, TLS trouble — may pass later and is retried.
    fn classify(&self, e: &SmtpError) -> SendError {
        let (host, port) = (&self.config.host, self.config.port);
        let e = match e {
            SmtpError::Io(text) => {
                return SendError::transient(format!("SMTP {host}:{port}: {text}"))
            }
            SmtpError::Smtp(e) => e,
        };
        let text = format!("SMTP {host}:{port}: {}", super::error_chain(e));
        let code = e.status().map(u16::from);
        if matches!(code, Some(530 | 534 | 535 | 538)) {
            // authentication refused: no message can pass until the
            // credentials are fixed, so alerts wait instead of dying
            SendError::refused(format!(
                "{text} (the server refuses our login: check username and password; alerts wait and are retried)"
            ))
        } else if e.is_permanent() {
            SendError::permanent(format!(
                "{text} (permanent: the server refused; check the addresses and credentials; not retried)"
            ))
        } else if e.is_tls() || text.contains("certificate") {
            SendError::transient(format!(
                "{text} (TLS failed: check `security` (starttls/tls/none) and, for a private CA, tls_ca_file)"
            ))
        } else {
            SendError::transient(text)
        }
    }

    /// Builds the message for one alert, or a digest for several.
    ///
    /// Threading: the first alert about a story is the thread's root (its
    /// `Message-ID` derives from the story id); every later one carries
    /// `In-Reply-To` the previous alert and `References` the root and the
    /// previous alert, so mail clients file a developing story as one
    /// conversation. A non-root `Message-ID` derives from the alert's
    /// idempotency key, so a re-send after a crash is recognisably the
    /// same message.
    pub fn message(&self, alerts: &[Alert]) -> Result<Message, SendError> {
        let domain = self.config.from.email.domain().to_string();
        let mut b = Message::builder()
            .from(self.config.from.clone())
            .date_now()
            .user_agent(concat!("storywatch/", env!("CARGO_PKG_VERSION")).to_string());
        for to in &self.config.to {
            b = b.to(to.clone());
        }
        let (subject, text, html) = if let [alert] = alerts {
            let id = match alert.story() {
                Some(s) => s.message_id(&alert.key),
                None => alert.key.clone(),
            };
            b = b
                .message_id(Some(format!("<{id}@{domain}>")))
                .raw_header(raw("X-Storywatch-Alert", &alert.key));
            if let Some(s) = alert.story() {
                b = b
                    .raw_header(raw("X-Storywatch-Story", &s.event.story))
                    .raw_header(raw("X-Storywatch-Watch", &s.watches().join(", ")));
                if let Some((reply_to, references)) = thread_headers(s, &domain) {
                    b = b.in_reply_to(reply_to).references(references);
                }
            }
            (
                render::subject(alert),
                render::text(alert),
                html_document(&[alert]),
            )
        } else {
            let key = super::batch_key(alerts);
            b = b
                .message_id(Some(format!("<{key}@{domain}>")))
                .raw_header(raw("X-Storywatch-Alert", &key));
            let refs: Vec<&Alert> = alerts.iter().collect();
            (
                digest_subject(alerts),
                digest_text(alerts),
                html_document(&refs),
            )
        };
        let (subject, text, html) = match &self.templates {
            Some(env) => templated(env, alerts, subject, text, html)?,
            None => (subject, text, html),
        };
        let subject = format!("{}{}", self.config.subject_prefix, subject);
        // List-Id lets users filter and lets clients treat these as list
        // mail; there is no List-Unsubscribe because there is nothing to
        // unsubscribe from but the config file.
        b = b
            .subject(one_line(&subject, 200))
            .raw_header(raw("Auto-Submitted", "auto-generated"))
            .raw_header(raw("X-Auto-Response-Suppress", "All"))
            .raw_header(raw(
                "List-Id",
                &format!(
                    "storywatch {} <{}.storywatch.{domain}>",
                    self.name,
                    list_token(&self.name)
                ),
            ));
        b.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))
    }
}

/// The subject, text and HTML of a message with the user's templates in
/// place of the parts they replace. Each template sees `alert` (the JSON
/// payload of a single alert, as webhooks get it), `alerts` (every
/// alert's payload), `subject`, `text` and `html` (what storywatch would
/// send); the HTML template's output is sanitised like storywatch's own.
pub fn templated(
    env: &minijinja::Environment<'static>,
    alerts: &[Alert],
    subject: String,
    text: String,
    html: String,
) -> Result<(String, String, String), SendError> {
    let payloads: Vec<serde_json::Value> = alerts.iter().map(super::webhook::payload).collect();
    let ctx = serde_json::json!({
        "alert": payloads.first(),
        "alerts": payloads,
        "digest": alerts.len() > 1,
        "subject": subject,
        "text": text,
        "html": html,
    });
    let render = |part: &str, default: String| -> Result<String, SendError> {
        match env.get_template(part) {
            Ok(t) => t
                .render(minijinja::value::Serde(&ctx))
                .map_err(|e| SendError::permanent(format!("email {part}_template failed: {e}"))),
            Err(_) => Ok(default),
        }
    };
    let html = match env.get_template("html") {
        Ok(_) => document(&sanitize(&render("html", String::new())?)),
        Err(_) => html,
    };
    Ok((render("subject", subject)?, render("text", text)?, html))
}

/// A header lettre has no typed header for, control characters removed
/// (feed text ends up in some values).
fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(
        HeaderName::new_from_ascii_str(name),
        value.chars().filter(|c| !c.is_control()).collect(),
    )
}

/// The Message-ID of the first alert about `story`: the thread's root.
pub fn thread_root(story: &str, domain: &str) -> String {
    format!("<{}@{domain}>", crate::outbox::story_message_id(story))
}

/// `In-Reply-To` (the previous alert) and `References` (the root, then the
/// previous alert) of a story alert; `None` for the root itself. Alerts
/// written before threads were tracked reply to the root.
fn thread_headers(s: &StoryAlert, domain: &str) -> Option<(String, String)> {
    let root = thread_root(&s.event.story, domain);
    match &s.thread {
        Some(Thread { previous: None }) => None,
        Some(Thread {
            previous: Some(previous),
        }) if *previous != crate::outbox::story_message_id(&s.event.story) => {
            let previous = format!("<{previous}@{domain}>");
            Some((previous.clone(), format!("{root} {previous}")))
        }
        _ => Some((root.clone(), root)),
    }
}

fn list_token(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Alerts grouped by story (ops notices on their own), in first-seen order.
fn grouped<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Vec<Vec<&'a Alert>> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&Alert>> = BTreeMap::new();
    for a in alerts {
        let key = a
            .story()
            .map(|s| s.event.story.clone())
            .unwrap_or_else(|| format!("ops-{}", a.id));
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(a);
    }
    order
        .into_iter()
        .filter_map(|k| groups.remove(&k))
        .collect()
}

pub fn digest_subject(alerts: &[Alert]) -> String {
    let stories: HashSet<&str> = alerts
        .iter()
        .filter_map(|a| a.story())
        .map(|s| s.event.story.as_str())
        .collect();
    format!(
        "storywatch digest: {} alerts about {} stories",
        alerts.len(),
        stories.len()
    )
}

fn digest_text(alerts: &[Alert]) -> String {
    grouped(alerts)
        .iter()
        .map(|g| {
            let heading = match g.first().and_then(|a| a.story()) {
                Some(s) if g.len() > 1 => format!(
                    "■ {} ({} alerts)\n\n",
                    one_line(s.event.shown_title(), 140),
                    g.len()
                ),
                Some(s) => format!("■ {}\n\n", one_line(s.event.shown_title(), 140)),
                None => String::new(),
            };
            let body = g
                .iter()
                .map(|a| render::text(a))
                .collect::<Vec<_>>()
                .join("\n\n");
            format!("{heading}{body}")
        })
        .collect::<Vec<_>>()
        .join("\n\n────────\n\n")
}

fn esc(s: &str) -> String {
    html_escape::encode_text(s).into_owned()
}

fn esc_attr(s: &str) -> String {
    html_escape::encode_double_quoted_attribute(s).into_owned()
}

/// The full HTML part of our own markup.
pub fn html_document(alerts: &[&Alert]) -> String {
    document(&html_body(alerts))
}

/// The alerts as HTML, grouped by story: feed text escaped, links http(s)
/// only, tags and attributes within [`VOCABULARY`].
fn html_body(alerts: &[&Alert]) -> String {
    let mut body = String::new();
    for group in grouped(alerts.iter().copied()) {
        for a in group {
            body.push_str(&alert_html(a));
        }
        body.push_str("<hr>");
    }
    body
}

/// Clean HTML (our markup, or a template's output after [`sanitize`]) as a
/// whole document.
fn document(clean: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;line-height:1.45;max-width:46em\">{clean}<p style=\"color:#888;font-size:small\">Sent by storywatch.</p></body></html>"
    )
}

fn alert_html(alert: &Alert) -> String {
    let s = match &alert.body {
        AlertBody::Ops(o) => {
            return format!(
                "<h3>{}</h3><p>{}</p>",
                esc(&render::subject(alert)),
                esc(&o.message)
            );
        }
        AlertBody::Story(s) => s,
    };
    let e = &s.event;
    let terms = render::matched_terms(s);
    let mut h = String::new();
    let mut meta = vec![
        format!("{} · {}", esc(e.kind.as_str()), esc(&e.feed)),
        esc(&render::watch_line(s)),
    ];
    if let Some(c) = e.class() {
        meta.push(format!("{c} change"));
    }
    meta.push(format!("revision {}", e.revision));
    if e.developing {
        meta.push("<b>developing story</b>".into());
    }
    h.push_str(&format!(
        "<p style=\"color:#555;font-size:small\">{}</p>",
        meta.join(" · ")
    ));
    let title = mark_terms(&esc(e.shown_title()), &terms);
    if let Some(link) = render::safe_link(&e.link) {
        h.push_str(&format!(
            "<h2><a href=\"{}\" rel=\"noopener noreferrer\">{title}</a></h2>",
            esc_attr(link)
        ));
    } else {
        h.push_str(&format!("<h2>{title}</h2>"));
    }
    if let Some(page) = &s.story_page {
        h.push_str(&format!(
            "<p><a href=\"{}\" rel=\"noopener noreferrer\">See all versions</a></p>",
            esc_attr(page)
        ));
    }
    match (&e.kind, &e.comparison) {
        (EventKind::Updated | EventKind::Oscillating, Some(c)) => {
            if let Some(t) = e.shown_title_diff() {
                h.push_str(&format!(
                    "<p><b>Headline:</b> {}</p>",
                    style_diff(&mark_terms(&t.render_html(render::DIFF_CONTEXT), &terms))
                ));
            }
            if let Some(b) = e.shown_body_diff() {
                h.push_str(&format!(
                    "<p>{}</p>",
                    style_diff(&mark_terms(&b.render_html(render::DIFF_CONTEXT), &terms))
                ));
            }
            if !c.numbers.is_empty() {
                h.push_str("<ul>");
                for n in &c.numbers {
                    h.push_str(&format!(
                        "<li>number: <del style=\"color:#a00\">{}</del> → <ins style=\"color:#070\">{}</ins></li>",
                        esc(n.old.as_deref().unwrap_or("—")),
                        esc(n.new.as_deref().unwrap_or("—"))
                    ));
                }
                h.push_str("</ul>");
            }
            if e.kind == EventKind::Oscillating {
                h.push_str(&format!("<p><i>This story keeps returning to earlier versions ({} times), likely an A/B headline test; further flips are not alerted.</i></p>", e.flipflops));
            }
        }
        _ => {
            let body = one_line(e.shown_body(), 1200);
            if !body.is_empty() {
                h.push_str(&format!("<p>{}</p>", mark_terms(&esc(&body), &terms)));
            }
        }
    }
    h
}

/// Colours for `<ins>`/`<del>` (many mail clients ignore `<style>` blocks).
fn style_diff(html: &str) -> String {
    html.replace(
        "<ins>",
        "<ins style=\"background:#dfd;color:#060;text-decoration:none\">",
    )
    .replace("<del>", "<del style=\"background:#fdd;color:#900\">")
}

/// Wraps case-insensitive occurrences of `terms` in `<mark>`, only in text
/// (never inside a tag or an entity).
pub fn mark_terms(html: &str, terms: &[String]) -> String {
    let needles: Vec<String> = terms
        .iter()
        .map(|t| esc(t).to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if needles.is_empty() {
        return html.to_string();
    }
    let mut out = String::with_capacity(html.len() + 32);
    let mut rest = html;
    while !rest.is_empty() {
        if rest.starts_with('<') {
            let end = rest.find('>').map(|i| i + 1).unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let end = rest.find('<').unwrap_or(rest.len());
        out.push_str(&mark_text(&rest[..end], &needles));
        rest = &rest[end..];
    }
    out
}

fn mark_text(text: &str, needles: &[String]) -> String {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return text.to_string(); // case mapping changed lengths: offsets would lie
    }
    let in_entity = entity_interiors(text);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = needles.iter().find(|n| {
            lower[i..].starts_with(n.as_str())
                && text.is_char_boundary(i + n.len())
                && !in_entity[i]
                && !in_entity[i + n.len() - 1]
                && !lower[..i]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
                && !lower[i + n.len()..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric)
        });
        match hit {
            Some(n) => {
                out.push_str("<mark>");
                out.push_str(&text[i..i + n.len()]);
                out.push_str("</mark>");
                i += n.len();
            }
            None => {
                let ch = text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
                out.push_str(&text[i..i + ch]);
                i += ch;
            }
        }
    }
    out
}

/// For each byte of escaped `text`, whether it lies inside a character
/// reference after its `&` (`amp;` of `&amp;`): a term must not start or
/// end there, or marking "amp" would break the `&amp;` it sits in.
fn entity_interiors(text: &str) -> Vec<bool> {
    let bytes = text.as_bytes();
    let mut inside = vec![false; bytes.len()];
    for (at, _) in text.match_indices('&') {
        let name = bytes[at + 1..]
            .iter()
            .take(12)
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'#'));
        if let Some(len) = name.filter(|&len| len > 0 && bytes.get(at + 1 + len) == Some(&b';')) {
            inside[at + 1..=at + 1 + len].fill(true);
        }
    }
    inside
}

/// The tags an HTML part may hold, with their attributes besides `rel`
/// (which [`sanitize`] sets on links itself): our own markup keeps to it,
/// and a template's output is cleaned down to it.
const VOCABULARY: &[(&str, &[&str])] = &[
    ("p", &["style"]),
    ("h2", &[]),
    ("h3", &[]),
    ("a", &["href"]),
    ("b", &[]),
    ("i", &[]),
    ("del", &["style"]),
    ("ins", &["style"]),
    ("mark", &[]),
    ("ul", &[]),
    ("li", &[]),
    ("hr", &[]),
    ("br", &[]),
    ("small", &[]),
];

/// Only [`VOCABULARY`] survives; links must be http(s). For the output of
/// a user's HTML template, which may put feed text anywhere.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .tags(VOCABULARY.iter().map(|(tag, _)| *tag).collect())
        .generic_attributes(HashSet::new())
        .tag_attributes(
            VOCABULARY
                .iter()
                .filter(|(_, attributes)| !attributes.is_empty())
                .map(|(tag, attributes)| (*tag, attributes.iter().copied().collect()))
                .collect(),
        )
        .url_schemes(["http", "https"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_terms_outside_character_references() {
        let html = "Tom &amp; Jerry said &quot;AMP&quot; at AT&amp;T &#8212; amp";
        let terms = [
            "amp".to_string(),
            "quot".into(),
            "at&t".into(),
            "8212".into(),
        ];
        assert_eq!(
            mark_terms(html, &terms),
            "Tom &amp; Jerry said &quot;<mark>AMP</mark>&quot; at <mark>AT&amp;T</mark> &#8212; <mark>amp</mark>"
        );
    }

    #[test]
    fn marks_terms_outside_tags_only() {
        let html = "<a href=\"/korea\">North Korea</a> and korean";
        let marked = mark_terms(html, &["korea".into()]);
        assert_eq!(
            marked,
            "<a href=\"/korea\">North <mark>Korea</mark></a> and korean"
        );
    }

    use crate::model::Snapshot;

    /// What an alert about `old` → `new` (hostile feed text) looks like.
    fn hostile_alert(kind: EventKind, old: &Snapshot, new: &Snapshot) -> Alert {
        use crate::watch::index::Highlight;
        use crate::watch::query::{DocField, Trigger};
        let event = crate::tracker::Event {
            kind,
            story: "s\"><script>1</script>".into(),
            feed: "feed <b onclick=\"x()\">name</b>".into(),
            revision: 2,
            at: 0,
            title: new.title.clone(),
            old_title: Some(old.title.clone()),
            link: new.link.clone(),
            developing: true,
            flipflops: 3,
            merged: false,
            merge: None,
            snapshot: new.clone(),
            comparison: (kind != EventKind::New)
                .then(|| crate::tracker::materiality::compare(old, new))
                .flatten(),
            display: Default::default(),
            display_diff: None,
        };
        Alert {
            id: 1,
            key: "k".into(),
            created: 0,
            notifiers: vec!["mail".into()],
            body: AlertBody::Story(StoryAlert {
                watch: "w\"><img src=x onerror=alert(1)>".into(),
                trigger: Trigger::Update,
                // matched terms are marked inside feed text, markup-like
                // ones included
                highlights: ["coast", "<script>", "quot", "amp"]
                    .map(|text| Highlight {
                        field: DocField::Title,
                        index: 0,
                        start: 0,
                        end: text.len(),
                        text: text.into(),
                    })
                    .into(),
                event,
                also: Vec::new(),
                thread: None,
                story_page: Some("https://sw.example/story/a\"onmouseover=\"x()".into()),
            }),
        }
    }

    /// Every tag of `html` with its attributes, failing on anything that
    /// is not a well-formed tag of [`VOCABULARY`].
    fn tags_within_vocabulary(html: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            let tag = &rest[open + 1..];
            let end = tag
                .find('>')
                .unwrap_or_else(|| panic!("unclosed tag in {html}"));
            let (tag, after) = (&tag[..end], &tag[end + 1..]);
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            let (closing, tag) = match tag.strip_prefix('/') {
                Some(t) => (true, t),
                None => (false, tag),
            };
            let name_end = tag.find(' ').unwrap_or(tag.len());
            let name = &tag[..name_end];
            let attrs = VOCABULARY
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("tag <{name}> is not ours: {html}"))
                .1;
            let mut a = &tag[name_end..];
            while let Some(x) = a.strip_prefix(' ') {
                assert!(!closing, "attributes on a closing tag: {tag}");
                let eq = x
                    .find("=\"")
                    .unwrap_or_else(|| panic!("bad attribute in {tag}"));
                let attr = &x[..eq];
                let link_rel = name == "a" && attr == "rel";
                assert!(
                    attrs.contains(&attr) || link_rel,
                    "<{name} {attr}> is not ours: {html}"
                );
                let v = &x[eq + 2..];
                let close = v.find('"').unwrap_or_else(|| panic!("open quote in {tag}"));
                if attr == "href" {
                    assert!(
                        v.starts_with("https://") || v.starts_with("http://"),
                        "link not http(s): {tag}"
                    );
                }
                a = &v[close + 1..];
            }
            assert!(a.is_empty(), "junk after attributes: {tag}");
            names.push(format!("{}{name}", if closing { "/" } else { "" }));
            rest = after;
        }
        names
    }

    #[test]
    fn our_markup_needs_no_sanitiser_whatever_the_feed_says() {
        let old = Snapshot {
            title: "Storm <script>alert(0)</script> nears \"coast\" & 'bay'".into(),
            summary: "About 3,000 told to leave <img src=http://t.example/p.gif onerror=steal()>. Police said <a href=\"javascript:x()\">more</a>.".into(),
            link: "https://e.example/a?x=\"><script>".into(),
            ..Default::default()
        };
        let new = Snapshot {
            title: "Storm <iframe src=//evil></iframe> hits \"coast\" & 'bay'".into(),
            summary: "About 12,000 told to leave <style>body{display:none}</style>. Police said <a href=\"javascript:x()\">more</a> &amp; <b onclick=\"y()\">then</b>.\nNew line <mark>".into(),
            link: "javascript:alert(document.cookie)".into(),
            ..old.clone()
        };
        let ops = Alert {
            body: AlertBody::Ops(crate::outbox::OpsNotice {
                feed: "<script>f</script>".into(),
                notifier: None,
                kind: crate::outbox::OpsKind::Failing,
                message: "<img src=x onerror=alert(2)> failing".into(),
                since: 0,
            }),
            ..hostile_alert(EventKind::New, &old, &new)
        };
        let alerts = [
            hostile_alert(EventKind::New, &new, &old),
            hostile_alert(EventKind::Updated, &old, &new),
            hostile_alert(EventKind::Oscillating, &new, &old),
            ops,
        ];
        for some in [
            &alerts[..1],
            &alerts[1..2],
            &alerts[2..3],
            &alerts[3..],
            &alerts[..],
        ] {
            let refs: Vec<&Alert> = some.iter().collect();
            let ours = html_body(&refs);
            let tags = tags_within_vocabulary(&ours);
            assert!(tags.iter().any(|t| t == "ins") || some.len() == 1, "{ours}");
            assert!(
                tags.iter().any(|t| t == "mark") || some == &alerts[3..],
                "{ours}"
            );
            // ammonia keeps every tag of ours, in the same order: the
            // markup is well formed and within its vocabulary
            assert_eq!(tags_within_vocabulary(&sanitize(&ours)), tags, "{ours}");
            // feed markup is only ever text
            for bad in [
                "<script",
                "<img",
                "<iframe",
                "<style",
                "<a href=\"javascript",
            ] {
                assert!(!ours.contains(bad), "{bad} survived: {ours}");
            }
        }
    }

    #[test]
    fn sanitize_strips_dangerous_markup() {
        let dirty = "<p>ok</p><script>alert(1)</script><img src=\"http://t.example/pixel.gif\"><form><input></form><a href=\"javascript:alert(1)\">x</a><p onclick=\"x()\">y</p>";
        let clean = sanitize(dirty);
        for bad in [
            "script",
            "<img",
            "<form",
            "<input",
            "javascript:",
            "onclick",
        ] {
            assert!(!clean.contains(bad), "{bad} survived: {clean}");
        }
        assert!(clean.contains("<p>ok</p>"));
    }
}
