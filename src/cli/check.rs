//! `storywatch check`: validates the config and prints what it understood,
//! where each secret will come from and whether it can be read here (never
//! a secret itself), and the warnings: things allowed but probably not
//! meant. Problems make it fail (exit 2) before this runs, all at once.

use std::fmt::Write;

use crate::config::{Config, ConfigError, NotifierKind};
use crate::secret::Availability;

/// What `check` prints: enough to see the config was understood, nothing
/// secret (webhook URLs often embed tokens, so only their host is shown).
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: ok", config.path.display());
    let _ = writeln!(out, "state_dir: {}", config.daemon.state_dir.display());
    if let Some(shard) = config.shard_summary() {
        let _ = writeln!(out, "{shard}");
    }
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
                if w.secret.is_set() { ", signed" } else { "" }
            ),
            NotifierKind::Nats(n) => format!(
                "nats to {} subject {}{}",
                n.server,
                n.subject,
                match n.auth {
                    crate::config::NatsAuth::None => String::new(),
                    a => format!(", auth {}", a.as_str()),
                }
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
    let mut warnings = config.warnings.clone();
    let uses = config.secret_uses();
    if !uses.is_empty() {
        let _ = writeln!(out, "secrets ({}):", uses.len());
    }
    for u in &uses {
        let from = u.source.describe().unwrap_or_default();
        let at = match u.line {
            Some(l) => format!("{}:{l}", config.path.display()),
            None => config.path.display().to_string(),
        };
        let state = match u.source.availability(u.what) {
            Availability::Available => "available here".to_string(),
            Availability::NotConfigured => "not configured".to_string(),
            Availability::OnlyUnderSystemd => {
                warnings.push(format!(
                    "{at}: {}: comes from a systemd credential, which only the service sees ($CREDENTIALS_DIRECTORY is not set here): fine for `systemctl start storywatch`; `storywatch run`/`once`/`test-notify` from a shell cannot read it",
                    u.owner
                ));
                "only under systemd (not here)".to_string()
            }
            Availability::Missing(why) => {
                warnings.push(format!(
                    "{at}: {}: not available here: {why}; commands that send (run, once, test-notify) would refuse to start",
                    u.owner
                ));
                "NOT available here".to_string()
            }
        };
        let _ = writeln!(out, "  {:<28} from {from}: {state}", u.owner);
    }
    if !warnings.is_empty() {
        let _ = writeln!(out, "warnings ({}):", warnings.len());
        for w in &warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

/// Renders every email notifier's templates with a realistic alert (the
/// one `test-notify` sends), so a misspelt variable or a filter that fails
/// is found by `check`, not by a mail that dies. One problem per failure.
pub fn render_templates(config: &Config, now: crate::model::UnixMs) -> Result<(), ConfigError> {
    use crate::notify::{email, template};
    let mut problems = Vec::new();
    for n in &config.notifiers {
        let NotifierKind::Email(e) = &n.kind else {
            continue;
        };
        let parts = e.templates();
        if parts.is_empty() {
            continue;
        }
        let sample = [super::test_notify::test_alert(&n.name, now)];
        let rendered = template::compile_email(&parts)
            .map_err(|(part, e)| format!("{part}_template does not compile: {e}"))
            .and_then(|env| {
                email::templated(&env, &sample, String::new(), String::new(), String::new())
                    .map_err(|e| e.message)
            });
        if let Err(why) = rendered {
            problems.push(format!(
                "{}:{}: notifier {:?}: {why} (rendered with the sample alert `storywatch test-notify` sends; see README, \"Email templates\", for the variables)",
                config.path.display(),
                n.line,
                n.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { problems })
    }
}
