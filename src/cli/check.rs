//! `storywatch check`: validates the config and prints what it understood,
//! without secrets.

use std::fmt::Write;

use crate::config::{Config, NotifierKind};

/// What `check` prints: enough to see the config was understood, nothing
/// secret (webhook URLs often embed tokens, so only their host is shown).
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: ok", config.path.display());
    let _ = writeln!(out, "state_dir: {}", config.daemon.state_dir.display());
    let _ = writeln!(out, "feeds ({}):", config.feeds.len());
    for f in &config.feeds {
        let tags = if f.tags.is_empty() {
            String::new()
        } else {
            format!(" tags={}", f.tags.join(","))
        };
        let _ = writeln!(
            out,
            "  {:<20} every {:>6}  {}{tags}",
            f.name,
            humantime::format_duration(f.interval(&config.daemon)).to_string(),
            f.url
        );
    }
    let _ = writeln!(out, "watches ({}):", config.watches.len());
    for w in &config.watches {
        let query = w.query.as_ref().map(|q| q.to_string()).unwrap_or_default();
        let on: Vec<&str> = w.on.iter().map(|t| t.as_str()).collect();
        let notify = if w.notify.is_empty() {
            "all notifiers".to_string()
        } else {
            w.notify.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:<20} {query}\n  {:<20} on {} ≥ {} → {notify}",
            w.name,
            "",
            on.join("/"),
            w.min_materiality
        );
    }
    let _ = writeln!(out, "notifiers ({}):", config.notifiers.len());
    for n in &config.notifiers {
        let what = match &n.kind {
            NotifierKind::Stdout => "stdout".to_string(),
            NotifierKind::Webhook(w) => format!(
                "webhook ({}) to {}://{}{}/…{}",
                w.preset.as_str(),
                w.url.scheme(),
                w.url.host_str().unwrap_or(""),
                w.url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                if w.secret.is_some() { ", signed" } else { "" }
            ),
            NotifierKind::Email(e) => format!(
                "email via {}:{} ({}) to {}",
                e.host,
                e.port,
                e.security.as_str(),
                e.to.iter()
                    .map(|m| m.email.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut shaping = Vec::new();
        if let Some(d) = n.digest {
            shaping.push(format!("digest {}", humantime::format_duration(d)));
        }
        if let Some(r) = n.max_per_story {
            shaping.push(format!(
                "max {} per {} per story",
                r.count,
                humantime::format_duration(r.per)
            ));
        }
        if n.quiet_hours.is_some() {
            shaping.push("quiet hours".into());
        }
        let shaping = if shaping.is_empty() {
            String::new()
        } else {
            format!(" [{}]", shaping.join(", "))
        };
        let _ = writeln!(out, "  {:<20} {what}{shaping}", n.name);
    }
    out
}
