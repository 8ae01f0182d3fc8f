//! The secrets a config names (the API token, webhook signing keys, chat
//! tokens, SMTP passwords, private feeds' credentials): where each comes
//! from, and reading them.
//!
//! Loading a config never reads a secret. Only the commands that send
//! (`run`, `once`, `test-notify`) call [`Config::resolve_secrets`], which
//! reports every unavailable secret at once; `check` only says where each
//! would come from and whether it is available where `check` runs.

use std::collections::BTreeMap;

use super::{Config, ConfigError, NotifierKind};
use crate::secret::{Secret, SecretSource};

/// One secret the config names.
#[derive(Debug, Clone)]
pub struct SecretUse<'a> {
    /// What it is for, as a user reads it: `[daemon] api_token`,
    /// `notifier "hook" secret`.
    pub owner: String,
    /// The key prefix: `api_token`, `secret`, `password`.
    pub what: &'static str,
    pub source: &'a SecretSource,
    /// The notifier it belongs to (None: the API token or a feed's).
    pub notifier: Option<&'a str>,
    /// The feed it belongs to (its `auth` credential).
    pub feed: Option<&'a str>,
    /// Where it is configured (the notifier's table), if known.
    pub line: Option<usize>,
}

/// Every secret, read.
#[derive(Debug, Default)]
pub struct Secrets {
    pub api_token: Option<Secret>,
    notifiers: BTreeMap<String, Secret>,
    feeds: BTreeMap<String, Secret>,
}

impl Secrets {
    /// The webhook signing key or SMTP password of notifier `name`.
    pub fn notifier(&self, name: &str) -> Option<&Secret> {
        self.notifiers.get(name)
    }

    /// The `auth` secret of feed `name`.
    pub fn feed(&self, name: &str) -> Option<&Secret> {
        self.feeds.get(name)
    }
}

impl Config {
    /// Every configured secret, with where it comes from.
    pub fn secret_uses(&self) -> Vec<SecretUse<'_>> {
        let mut out = Vec::new();
        if self.daemon.api_token.is_set() {
            out.push(SecretUse {
                owner: "[daemon] api_token".into(),
                what: "api_token",
                source: &self.daemon.api_token,
                notifier: None,
                feed: None,
                line: None,
            });
        }
        for n in &self.notifiers {
            let sources = match &n.kind {
                NotifierKind::Webhook(w) => vec![("secret", &w.secret), ("token", &w.token)],
                NotifierKind::Email(e) => vec![("password", &e.password)],
                NotifierKind::Nats(n) => vec![("secret", &n.secret)],
                NotifierKind::Stdout => continue,
            };
            for (what, source) in sources.into_iter().filter(|(_, s)| s.is_set()) {
                out.push(SecretUse {
                    owner: format!("notifier {:?} {what}", n.name),
                    what,
                    source,
                    notifier: Some(&n.name),
                    feed: None,
                    line: Some(n.line),
                });
            }
        }
        for f in &self.feeds {
            if let Some(auth) = f.auth.as_ref().filter(|a| a.secret.is_set()) {
                out.push(SecretUse {
                    owner: format!("feed {:?} secret", f.name),
                    what: "secret",
                    source: &auth.secret,
                    notifier: None,
                    feed: Some(&f.name),
                    line: None,
                });
            }
        }
        out
    }

    /// Reads every secret, for a command about to send; every one that
    /// cannot be read is reported, with what to do.
    pub fn resolve_secrets(&self) -> Result<Secrets, ConfigError> {
        self.resolve(|_| true)
    }

    /// Reads only the secret of notifier `name` (`test-notify`).
    pub fn resolve_notifier_secret(&self, name: &str) -> Result<Option<Secret>, ConfigError> {
        let secrets = self.resolve(|u| u.notifier == Some(name))?;
        Ok(secrets.notifiers.get(name).cloned())
    }

    fn resolve(&self, wanted: impl Fn(&SecretUse) -> bool) -> Result<Secrets, ConfigError> {
        let mut secrets = Secrets::default();
        let mut problems = Vec::new();
        let file = self.path.display();
        for u in self.secret_uses().into_iter().filter(|u| wanted(u)) {
            match u.source.resolve(u.what) {
                // a chat preset's token is read again when its notifier is
                // built: here it is only checked, with the others
                Ok(Some(_)) if u.what == "token" => {}
                Ok(Some(s)) => match (u.notifier, u.feed) {
                    (Some(n), _) => {
                        secrets.notifiers.insert(n.to_string(), s);
                    }
                    (None, Some(f)) => {
                        secrets.feeds.insert(f.to_string(), s);
                    }
                    (None, None) => secrets.api_token = Some(s),
                },
                Ok(None) => {}
                Err(e) => problems.push(match u.line {
                    Some(l) => format!("{file}:{l}: {}: {e}", u.owner),
                    None => format!("{file}: {}: {e}", u.owner),
                }),
            }
        }
        if problems.is_empty() {
            Ok(secrets)
        } else {
            Err(ConfigError { problems })
        }
    }
}
