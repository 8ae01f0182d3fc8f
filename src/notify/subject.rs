//! NATS subject templates (`subject = "storywatch.alerts.{watch}"`): checked
//! when the config loads, filled in per alert by the NATS notifier. A leaf
//! like [`super::template`], so the config check can use it without
//! depending on the notifiers.
//!
//! A subject is dot-separated tokens; a token may not be empty or contain
//! white space, and `*` and `>` are wildcards, which a publish may not use.
//! A placeholder's value (a watch or feed name) is made a safe token: every
//! character other than ASCII letters, digits, `-` and `_` becomes `_`, so a
//! watch called "north korea" publishes to `…alerts.north_korea`.

/// The placeholders a subject may contain.
pub const PLACEHOLDERS: &[&str] = &["watch", "feed", "kind", "trigger"];

/// Why a subject template is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("{0:?} has an empty token (two dots in a row, or a dot at an end)")]
    EmptyToken(String),
    #[error("{0:?} contains white space")]
    Space(String),
    #[error("{0:?} contains a wildcard (* or >), which a publish may not use")]
    Wildcard(String),
    #[error("{text:?}: unknown placeholder {{{name}}}; the placeholders are {{watch}}, {{feed}}, {{kind}}, {{trigger}}")]
    Placeholder { text: String, name: String },
    #[error("{0:?} has a {{ without its }}")]
    Unclosed(String),
}

/// Checks `template` (with every placeholder standing for a safe token).
pub fn check(template: &str) -> Result<(), SubjectError> {
    let filled = fill(template, |_| Some("x".into()))?;
    if filled.chars().any(char::is_whitespace) {
        return Err(SubjectError::Space(template.into()));
    }
    if filled.contains(['*', '>']) {
        return Err(SubjectError::Wildcard(template.into()));
    }
    if filled.split('.').any(str::is_empty) {
        return Err(SubjectError::EmptyToken(template.into()));
    }
    Ok(())
}

/// The subject for one alert: `value(name)` gives each placeholder's value
/// (None: "none"), made a safe token.
pub fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    fill(template, |name| {
        Some(token(value(name).as_deref().unwrap_or("none")))
    })
    .unwrap_or_else(|_| template.to_string())
}

/// A value as one subject token.
pub fn token(value: &str) -> String {
    let t: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, SubjectError> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| SubjectError::Unclosed(template.into()))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(SubjectError::Placeholder {
                text: template.into(),
                name: name.into(),
            });
        }
        out.push_str(&value(name).unwrap_or_default());
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_safe_tokens() {
        assert_eq!(check("storywatch.alerts.{watch}"), Ok(()));
        let s = render("storywatch.{kind}.{watch}.{feed}", |n| match n {
            "watch" => Some("north korea.troops".into()),
            "kind" => Some("updated".into()),
            _ => None,
        });
        assert_eq!(s, "storywatch.updated.north_korea_troops.none");
        assert_eq!(token("a>b*c d"), "a_b_c_d");
    }

    #[test]
    fn bad_subjects_are_refused() {
        assert!(matches!(
            check("alerts..x"),
            Err(SubjectError::EmptyToken(_))
        ));
        assert!(matches!(check(".alerts"), Err(SubjectError::EmptyToken(_))));
        assert!(matches!(check("alerts.*"), Err(SubjectError::Wildcard(_))));
        assert!(matches!(check("alerts.>"), Err(SubjectError::Wildcard(_))));
        assert!(matches!(check("my alerts"), Err(SubjectError::Space(_))));
        assert!(matches!(
            check("alerts.{story}"),
            Err(SubjectError::Placeholder { .. })
        ));
        assert!(matches!(
            check("alerts.{watch"),
            Err(SubjectError::Unclosed(_))
        ));
    }
}
