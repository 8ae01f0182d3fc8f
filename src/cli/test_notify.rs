//! `storywatch test-notify NAME`: one realistic alert through one notifier,
//! now, so a new webhook or mailbox is proven before a real story needs it.

use crate::config::{Config, NotifierConfig, NotifierKind};
use crate::model::{Snapshot, UnixMs};
use crate::notify::{render, Notifier, NotifierError};
use crate::outbox::{Alert, AlertBody, SendError, StoryAlert};
use crate::tracker::{materiality, Event, EventKind};
use crate::watch::index::Highlight;
use crate::watch::query::{DocField, Trigger};

/// A realistic update alert for `storywatch test-notify`: a headline
/// rewrite, a changed number and an added sentence, with a matched term,
/// so every part of the rendering is exercised. Its key is random so a
/// receiver that deduplicates does not swallow a second test.
pub fn test_alert(notifier: &str, now: UnixMs) -> Alert {
    let old = Snapshot {
        title: "Storm nears the coast as thousands are told to leave".into(),
        summary: "About 3,000 residents of low-lying districts were told to leave before the storm arrives tonight.".into(),
        link: "https://example.com/news/storywatch-test".into(),
        ..Default::default()
    };
    let new = Snapshot {
        title: "Storm makes landfall; 12,000 told to leave".into(),
        summary: "About 12,000 residents of low-lying districts were told to leave as the storm made landfall. Shelters have opened in three schools.".into(),
        ..old.clone()
    };
    let comparison = materiality::compare(&old, &new);
    let event = Event {
        kind: EventKind::Updated,
        story: "storywatch-test".into(),
        feed: "storywatch-test".into(),
        revision: 2,
        at: now,
        title: new.title.clone(),
        old_title: Some(old.title.clone()),
        link: new.link.clone(),
        developing: true,
        flipflops: 0,
        merged: false,
        merge: None,
        snapshot: new,
        comparison,
        display: Default::default(),
        display_diff: None,
    };
    Alert {
        id: 0,
        key: format!("test.{}", hex::encode(rand::random::<[u8; 8]>())),
        created: now,
        notifiers: vec![notifier.to_string()],
        body: AlertBody::Story(StoryAlert {
            watch: "storywatch test-notify".into(),
            trigger: Trigger::Update,
            highlights: vec![Highlight {
                field: DocField::Title,
                index: 0,
                start: 0,
                end: 5,
                text: "Storm".into(),
            }],
            event,
            also: Vec::new(),
            thread: None,
            story_page: None,
        }),
    }
}

/// Sends a test alert through the named notifier right away (digest, quiet
/// hours and rate limits do not apply). The error says what went wrong.
pub async fn send(config: &Config, name: &str, now: UnixMs) -> Result<String, TestNotifyError> {
    let Some(n) = config.notifiers.iter().find(|n| n.name == name) else {
        let known: Vec<&str> = config.notifiers.iter().map(|n| n.name.as_str()).collect();
        return Err(TestNotifyError::NoSuchNotifier {
            name: name.to_string(),
            config: config.path.clone(),
            known: if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
        });
    };
    let notifier =
        Notifier::build(n, &config.daemon.user_agent).map_err(|source| TestNotifyError::Build {
            name: name.to_string(),
            source,
        })?;
    let alert = test_alert(name, now);
    notifier
        .send(std::slice::from_ref(&alert))
        .await
        .map_err(|source| TestNotifyError::Send {
            name: name.to_string(),
            target: describe(n),
            source,
        })?;
    Ok(format!(
        "sent a test alert through {name:?} ({}): \"{}\"\n",
        describe(n),
        render::subject(&alert)
    ))
}

/// Why the test alert did not go out.
#[derive(Debug, thiserror::Error)]
pub enum TestNotifyError {
    #[error("no notifier named {name:?} in {} (defined: {known})", config.display())]
    NoSuchNotifier {
        name: String,
        config: std::path::PathBuf,
        known: String,
    },
    #[error("notifier {name:?}: {source}")]
    Build {
        name: String,
        #[source]
        source: NotifierError,
    },
    #[error("notifier {name:?} ({target}): {source}")]
    Send {
        name: String,
        target: String,
        #[source]
        source: SendError,
    },
}

/// Where a notifier sends, without secrets (webhook URLs often embed
/// tokens, so only scheme, host and port are shown).
fn describe(n: &NotifierConfig) -> String {
    match &n.kind {
        NotifierKind::Stdout => "stdout".into(),
        NotifierKind::Webhook(w) => {
            format!("webhook to {}", crate::notify::webhook::redacted(&w.url))
        }
        NotifierKind::Email(e) => format!("email via {}:{}", e.host, e.port),
        NotifierKind::Nats(n) => format!("NATS {} subject {}", n.server, n.subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_alert_is_a_real_update() {
        let a = test_alert("mail", 1_790_000_000_000);
        let subject = render::subject(&a);
        assert!(
            subject.starts_with("Updated: Storm makes landfall"),
            "{subject}"
        );
        assert!(
            subject.contains("headline now \"Storm makes landfall"),
            "{subject}"
        );
        let text = render::text(&a);
        assert!(text.contains("[-3,000-]{+12,000+}"), "{text}");
        assert_ne!(a.key, test_alert("mail", 0).key, "keys are fresh");
    }
}
