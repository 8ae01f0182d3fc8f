//! `[[notifier]]` tables: from the flat table a user writes to a typed
//! stdout, webhook, email or NATS notifier, with every problem at the line of
//! the key it is about: keys of another type, missing addresses, headers
//! that would break the protocol, an SMTP URL with a password in it.

use std::time::Duration;

use url::Url;

use super::document::{KeyLines, Problems, Read};
use super::schema;
use super::{
    EmailConfig, NatsAuth, NatsConfig, NotifierConfig, NotifierKind, NotifierType, RawNotifier,
    SmtpSecurity, UrlError, WebhookConfig, WebhookPreset,
};
use crate::secret::SecretSource;

/// Webhook headers a user may not set, and why. Compared case-insensitively.
pub const RESERVED_HEADERS: &[(&str, &str)] = &[
    ("content-length", "the HTTP client sets it from the body; a fixed value truncates or stalls the request"),
    ("transfer-encoding", "the HTTP client sets it; a fixed value corrupts the body"),
    ("host", "it comes from url; a different one sends the request to the wrong site or is refused"),
    ("connection", "a hop-by-hop header the HTTP client manages"),
    ("keep-alive", "a hop-by-hop header the HTTP client manages"),
    ("upgrade", "a hop-by-hop header the HTTP client manages"),
    ("te", "a hop-by-hop header the HTTP client manages"),
    ("trailer", "a hop-by-hop header the HTTP client manages"),
    ("proxy-connection", "a hop-by-hop header the HTTP client manages"),
    ("idempotency-key", "storywatch sets it per alert so that receivers can drop duplicates; a fixed value makes every alert look like the same one"),
    ("x-storywatch-signature", "storywatch signs each request itself: set secret_env, secret_file or secret_credential"),
    ("x-storywatch-timestamp", "storywatch sets it with the signature: set secret_env, secret_file or secret_credential"),
];

/// Why `name` may not be set as a webhook header, if it may not.
pub fn reserved_header(name: &str) -> Option<&'static str> {
    RESERVED_HEADERS
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(name.trim()))
        .map(|(_, why)| *why)
}

/// Problems of one notifier table, each at the line of its key.
struct Report<'a> {
    label: &'a str,
    at: &'a KeyLines,
    problems: &'a mut Problems,
    warnings: &'a mut Problems,
}

impl Report<'_> {
    fn bad(&mut self, key: &str, message: impl std::fmt::Display) {
        self.problems
            .at(self.at.line_of(key), format!("{}: {message}", self.label));
    }
    fn warn(&mut self, key: &str, message: impl std::fmt::Display) {
        self.warnings
            .at(self.at.line_of(key), format!("{}: {message}", self.label));
    }
}

/// The typed notifier, or `None` (with problems) when it cannot be built.
pub(super) fn notifier(
    r: Read<RawNotifier>,
    label: &str,
    problems: &mut Problems,
    warnings: &mut Problems,
) -> Option<NotifierConfig> {
    let n = r.value;
    let mut report = Report {
        label,
        at: &r.at,
        problems,
        warnings,
    };
    if n.name.trim().is_empty() && !r.at.written("name") {
        report.bad("name", "needs a name, e.g. name = \"mail\"");
    } else if n.name.trim().is_empty() && r.at.has("name") {
        report.bad("name", "name must not be empty, e.g. name = \"mail\"");
    }
    if let Some(rate) = n.max_per_story {
        if rate.count > schema::RATE_MAX_COUNT
            || rate.per < schema::RATE_MIN_PER
            || rate.per > schema::RATE_MAX_PER
        {
            report.bad(
                "max_per_story",
                format!(
                    "max_per_story = {:?}: out of range; expected 1 to {} alerts per 1s to 7d (a longer window would never free up), e.g. max_per_story = \"1/15m\"",
                    r.at.raw("max_per_story").unwrap_or(""),
                    schema::RATE_MAX_COUNT
                ),
            );
        }
    }
    let kind = match n.kind {
        None if r.at.written("type") => None,
        None => {
            report.bad(
                "name",
                "needs type = \"stdout\", \"webhook\", \"email\" or \"nats\"",
            );
            None
        }
        Some(t) => kind(t, &n, &mut report),
    };
    if n.name.trim().is_empty() {
        return None;
    }
    Some(NotifierConfig {
        name: n.name,
        line: r.at.line,
        digest: n.digest,
        quiet_hours: n.quiet_hours,
        max_per_story: n.max_per_story,
        kind: kind?,
    })
}

/// Keys that only make sense for one notifier type.
fn foreign_keys(n: &RawNotifier, t: NotifierType) -> Vec<&'static str> {
    let webhook = [
        ("url", n.url.is_some()),
        ("preset", n.preset.is_some()),
        ("headers", n.headers.is_some()),
        ("template", n.template.is_some()),
        ("secret_env", n.secret_env.is_some()),
        ("secret_file", n.secret_file.is_some()),
        ("secret_credential", n.secret_credential.is_some()),
        ("timeout", n.timeout.is_some()),
        ("token_env", n.token_env.is_some()),
        ("token_file", n.token_file.is_some()),
        ("token_credential", n.token_credential.is_some()),
        ("chat_id", n.chat_id.is_some()),
        ("room", n.room.is_some()),
        ("user", n.user.is_some()),
        ("priority", n.priority.is_some()),
    ];
    let email = [
        ("smtp", n.smtp.is_some()),
        ("host", n.host.is_some()),
        ("port", n.port.is_some()),
        ("security", n.security.is_some()),
        ("username", n.username.is_some()),
        ("password_env", n.password_env.is_some()),
        ("password_file", n.password_file.is_some()),
        ("password_credential", n.password_credential.is_some()),
        ("from", n.from.is_some()),
        ("to", n.to.is_some()),
        ("subject_prefix", n.subject_prefix.is_some()),
        ("tls_ca_file", n.tls_ca_file.is_some()),
        ("subject_template", n.subject_template.is_some()),
        ("text_template", n.text_template.is_some()),
        ("html_template", n.html_template.is_some()),
    ];
    let nats = [
        ("server", n.server.is_some()),
        ("subject", n.subject.is_some()),
        ("auth", n.auth.is_some()),
    ];
    // a NATS notifier shares the secret, timeout and CA keys
    let shared_with_nats = |k: &&str| {
        t == NotifierType::Nats
            && (k.starts_with("secret_") || *k == "timeout" || *k == "tls_ca_file")
    };
    let mut foreign = Vec::new();
    if t != NotifierType::Webhook {
        foreign.extend(webhook.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
    }
    if t != NotifierType::Email {
        foreign.extend(email.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
    }
    if t != NotifierType::Nats {
        foreign.extend(nats.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
    }
    foreign.retain(|k| !shared_with_nats(k));
    foreign
}

fn kind(t: NotifierType, n: &RawNotifier, report: &mut Report) -> Option<NotifierKind> {
    let type_name = match t {
        NotifierType::Stdout => "stdout",
        NotifierType::Webhook => "webhook",
        NotifierType::Email => "email",
        NotifierType::Nats => "nats",
    };
    for key in foreign_keys(n, t) {
        report.bad(
            key,
            format!("key `{key}` does not apply to type = \"{type_name}\""),
        );
    }
    match t {
        NotifierType::Stdout => Some(NotifierKind::Stdout),
        NotifierType::Webhook => webhook(n, report).map(NotifierKind::Webhook),
        NotifierType::Email => email(n, report).map(NotifierKind::Email),
        NotifierType::Nats => nats(n, report).map(NotifierKind::Nats),
    }
}

fn nats(n: &RawNotifier, report: &mut Report) -> Option<NatsConfig> {
    let server = match &n.server {
        None if report.at.written("server") => None,
        None => {
            report.bad(
                "name",
                "a NATS notifier needs server = \"nats://nats.example.com:4222\"",
            );
            None
        }
        Some(text) => match check_nats_servers(text) {
            Ok(()) => Some(text.trim().to_string()),
            Err(e) => {
                report.bad(
                    "server",
                    format!("server = {text:?}: {e}; expected nats://HOST:PORT or tls://HOST:PORT, several separated by commas, e.g. server = \"nats://nats.example.com:4222\""),
                );
                None
            }
        },
    };
    let subject = n
        .subject
        .clone()
        .unwrap_or_else(|| "storywatch.alerts.{watch}".into());
    if let Err(e) = crate::notify::subject::check(&subject) {
        report.bad(
            "subject",
            format!("subject: {e}; e.g. subject = \"storywatch.alerts.{{watch}}\""),
        );
    }
    let secret = secret_keys(n, report);
    let auth = n.auth.unwrap_or(if secret.is_set() {
        NatsAuth::Token
    } else {
        NatsAuth::None
    });
    match (auth, secret.is_set()) {
        (NatsAuth::None, true) => report.bad(
            "auth",
            "auth = \"none\" but a secret is set: say what it is, auth = \"token\", \"nkey\" or \"creds\"",
        ),
        (NatsAuth::Token | NatsAuth::Nkey | NatsAuth::Creds, false) => report.bad(
            "auth",
            format!(
                "auth = \"{}\" needs the secret: set secret_env, secret_file or secret_credential",
                auth.as_str()
            ),
        ),
        _ => {}
    }
    Some(NatsConfig {
        server: server?,
        subject,
        auth,
        secret,
        tls_ca_file: n.tls_ca_file.clone(),
        timeout: n.timeout.unwrap_or(Duration::from_secs(15)),
    })
}

/// Each comma-separated server is a nats://, tls://, ws:// or wss:// URL
/// with a host (no password: it would sit in config.toml).
fn check_nats_servers(text: &str) -> Result<(), String> {
    for part in text.split(',').map(str::trim) {
        let url = Url::parse(part).map_err(|e| format!("{part:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "nats" | "tls") {
            return Err(format!("{part:?}: the scheme must be nats or tls"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{part:?} has no host"));
        }
        if url.password().is_some() {
            return Err(format!(
                "{part:?} has a password in it; put credentials in secret_env, secret_file or secret_credential with auth = \"token\", \"nkey\" or \"creds\""
            ));
        }
    }
    Ok(())
}

/// A secret's three keys as one source; two of them at once is refused.
fn secret(
    what: &str,
    env: &Option<String>,
    file: &Option<std::path::PathBuf>,
    credential: &Option<String>,
    report: &mut Report,
) -> SecretSource {
    let source = SecretSource {
        env: env.clone(),
        file: file.clone(),
        credential: credential.clone(),
    };
    if let Err(e) = source.check_shape(what) {
        let key = ["env", "file", "credential"]
            .into_iter()
            .map(|s| format!("{what}_{s}"))
            .find(|k| report.at.written(k))
            .unwrap_or_else(|| "name".into());
        report.bad(&key, e);
    }
    source
}

/// `secret_env`/`_file`/`_credential`: a webhook's signing key, a NATS
/// notifier's token, NKEY seed or creds.
fn secret_keys(n: &RawNotifier, report: &mut Report) -> SecretSource {
    secret(
        "secret",
        &n.secret_env,
        &n.secret_file,
        &n.secret_credential,
        report,
    )
}

fn webhook(n: &RawNotifier, report: &mut Report) -> Option<WebhookConfig> {
    let preset = n.preset.unwrap_or_default();
    let default_url = preset.default_url().and_then(|u| Url::parse(u).ok());
    if n.url.is_none() && default_url.is_none() && !report.at.written("url") {
        report.bad("name", match preset {
            WebhookPreset::Matrix => "preset = \"matrix\" needs the homeserver: url = \"https://matrix.example.org\"",
            WebhookPreset::Gotify => "preset = \"gotify\" needs the server: url = \"https://gotify.example.org\"",
            WebhookPreset::Googlechat => "preset = \"googlechat\" needs the space's webhook: url = \"https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…\"",
            _ => "a webhook needs url = \"https://hooks.example.com/…\"",
        });
    }
    let token = secret(
        "token",
        &n.token_env,
        &n.token_file,
        &n.token_credential,
        report,
    );
    preset_keys(n, preset, &token, report);
    let secret = secret_keys(n, report);
    if let Some(t) = &n.template {
        if let Err(e) = crate::notify::template::compile(t) {
            report.bad("template", format!("template does not compile: {e}"));
        }
    }
    let headers = n.headers.clone().unwrap_or_default();
    for (name, value) in &headers {
        if let Some(why) = reserved_header(name) {
            report.bad(
                "headers",
                format!("headers: {name:?} may not be set: {why}; remove it from headers"),
            );
        } else if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            report.bad(
                "headers",
                format!("headers: {name:?} is not a valid header name (letters, digits and -, no spaces or colons), e.g. headers = {{ \"X-Source\" = \"storywatch\" }}"),
            );
        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
            report.bad(
                "headers",
                format!("headers: the value of {name:?} is not a valid header value (no line breaks or control characters)"),
            );
        }
    }
    Some(WebhookConfig {
        url: n.url.clone().or(default_url)?,
        preset,
        headers,
        template: n.template.clone(),
        secret,
        timeout: n.timeout.unwrap_or(Duration::from_secs(15)),
        token,
        chat_id: n.chat_id.clone(),
        room: n.room.clone(),
        user: n.user.clone(),
        priority: n.priority,
    })
}

/// The keys each chat preset needs, and those it would ignore.
fn preset_keys(n: &RawNotifier, preset: WebhookPreset, token: &SecretSource, report: &mut Report) {
    let name = preset.as_str();
    if preset.needs_token() && !token.is_set() {
        let what = match preset {
            WebhookPreset::Telegram => "the bot token from @BotFather",
            WebhookPreset::Matrix => "the bot account's access token",
            WebhookPreset::Pushover => "the application's API token",
            _ => "the application's token",
        };
        report.bad(
            "preset",
            format!(
                "preset = \"{name}\" needs {what}: set token_env, token_file or token_credential"
            ),
        );
    } else if !preset.needs_token() && token.is_set() {
        report.bad(
            "preset",
            format!("token_env/token_file/token_credential do not apply to preset = \"{name}\" (only telegram, matrix, pushover and gotify take a token)"),
        );
    }
    let needs = [
        (
            "chat_id",
            WebhookPreset::Telegram,
            n.chat_id.is_some(),
            "chat_id = \"-1001234567890\"",
        ),
        (
            "room",
            WebhookPreset::Matrix,
            n.room.is_some(),
            "room = \"!news:example.org\"",
        ),
        (
            "user",
            WebhookPreset::Pushover,
            n.user.is_some(),
            "user = \"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"",
        ),
    ];
    for (key, owner, set, example) in needs {
        if preset == owner && !set {
            report.bad("preset", format!("preset = \"{name}\" needs {example}"));
        } else if preset != owner && set {
            report.bad(
                key,
                format!(
                    "key `{key}` applies only to preset = \"{}\"",
                    owner.as_str()
                ),
            );
        }
    }
    if n.priority.is_some() && preset != WebhookPreset::Gotify {
        report.bad(
            "priority",
            "key `priority` applies only to preset = \"gotify\"",
        );
    }
}

fn email(n: &RawNotifier, report: &mut Report) -> Option<EmailConfig> {
    let mut host = n.host.clone();
    let mut port = n.port;
    let mut security = n.security;
    let mut username = n.username.clone();
    if let Some(smtp) = &n.smtp {
        match parse_smtp_url(smtp) {
            Ok(u) => {
                host = host.or(Some(u.host));
                port = port.or(Some(u.port));
                security = security.or(Some(u.security));
                username = username.or(u.username);
            }
            Err(e) => report.bad(
                "smtp",
                format!("smtp = {smtp:?}: {e}; expected an smtp://, smtps:// or smtp+plain:// URL, e.g. smtp = \"smtp://alerts%40example.com@mail.example.com:587\""),
            ),
        }
    }
    let security = security.unwrap_or(SmtpSecurity::Starttls);
    let port = port.unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::None => 25,
    });
    if host.is_none() && !report.at.written("smtp") && !report.at.written("host") {
        report.bad(
            "name",
            "an email notifier needs smtp = \"smtp://user@mail.example.com:587\" or host = \"…\"",
        );
    }
    let password = secret(
        "password",
        &n.password_env,
        &n.password_file,
        &n.password_credential,
        report,
    );
    if password.is_set() && username.is_none() {
        report.bad(
            "username",
            "a password is set but no username: add username = \"…\" or put it in the URL (smtp://user@host)",
        );
    }
    if username.is_some() && !password.is_set() {
        report.warn(
            if report.at.written("username") { "username" } else { "smtp" },
            "an SMTP username without a password: no login is attempted; set password_env, password_file or password_credential (or drop the username)",
        );
    }
    if security == SmtpSecurity::None
        && host.as_deref().is_some_and(|h| {
            !h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
                && h != "localhost"
        })
    {
        report.warn(
            if report.at.written("security") { "security" } else { "smtp" },
            "mail to a remote relay without TLS: messages and the password cross the network in clear; use starttls or tls",
        );
    }
    let from = match n
        .from
        .as_deref()
        .map(str::parse::<lettre::message::Mailbox>)
    {
        None if report.at.written("from") => None,
        None => {
            report.bad(
                "name",
                "an email notifier needs from = \"storywatch <alerts@example.com>\"",
            );
            None
        }
        Some(Err(e)) => {
            report.bad(
                "from",
                format!(
                    "from = {:?} is not an email address ({e}), e.g. from = \"storywatch <alerts@example.com>\"",
                    n.from.as_deref().unwrap_or("")
                ),
            );
            None
        }
        Some(Ok(m)) => Some(m),
    };
    let mut to = Vec::new();
    for addr in n.to.iter().flatten() {
        match addr.parse::<lettre::message::Mailbox>() {
            Ok(m) => to.push(m),
            Err(e) => report.bad(
                "to",
                format!(
                    "to: {addr:?} is not an email address ({e}), e.g. to = [\"you@example.com\"]"
                ),
            ),
        }
    }
    if n.to.as_ref().is_none_or(|t| t.is_empty()) && !report.at.failed("to") {
        report.bad(
            if report.at.written("to") {
                "to"
            } else {
                "name"
            },
            "an email notifier needs to = [\"you@example.com\"]",
        );
    }
    let config = EmailConfig {
        host: host?,
        port,
        security,
        username,
        password,
        from: from?,
        to,
        subject_prefix: n.subject_prefix.clone().unwrap_or_default(),
        tls_ca_file: n.tls_ca_file.clone(),
        subject_template: n.subject_template.clone(),
        text_template: n.text_template.clone(),
        html_template: n.html_template.clone(),
    };
    if let Err((part, e)) = crate::notify::template::compile_email(&config.templates()) {
        let key = format!("{part}_template");
        report.bad(&key, format!("{key} does not compile: {e}"));
    }
    Some(config)
}

#[derive(Debug)]
pub(super) struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
}

/// `smtp://user@host:587` (STARTTLS), `smtps://host` (implicit TLS),
/// `smtp+plain://host:25` (no TLS). A password in the URL is refused: it
/// would sit in a config file that is often world-readable.
pub(super) fn parse_smtp_url(text: &str) -> Result<SmtpUrl, UrlError> {
    let url = Url::parse(text).map_err(|source| UrlError::SmtpInvalid {
        text: text.to_string(),
        source,
    })?;
    let security = match url.scheme() {
        "smtp" => SmtpSecurity::Starttls,
        "smtps" => SmtpSecurity::Tls,
        "smtp+plain" => SmtpSecurity::None,
        s => {
            return Err(UrlError::SmtpScheme {
                text: text.to_string(),
                scheme: s.to_string(),
            })
        }
    };
    if url.password().is_some() {
        return Err(UrlError::SmtpPassword);
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| UrlError::SmtpNoHost(text.to_string()))?;
    let port = match url.port() {
        Some(0) => return Err(UrlError::SmtpPort),
        Some(p) => p,
        None => match security {
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::None => 25,
        },
    };
    let username = (!url.username().is_empty()).then(|| {
        percent_encoding::percent_decode_str(url.username())
            .decode_utf8_lossy()
            .into_owned()
    });
    Ok(SmtpUrl {
        host: host.trim_matches(['[', ']']).to_string(),
        port,
        security,
        username,
    })
}
