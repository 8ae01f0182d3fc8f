//! The secrets a config names (the API token, webhook signing keys, SMTP
//! passwords): where each comes from, and reading them.
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
    /// The notifier it belongs to (None: the API token).
    pub notifier: Option<&'a str>,
    /// Where it is configured (the notifier's table), if known.
    pub line: Option<usize>,
}

/// Every secret, read.
#[derive(Debug, Default)]
pub struct Secrets {
    pub api_token: Option<Secret>,
    notifiers: BTreeMap<String, Secret>,
}

impl Secrets {
    /// The webhook signing key or SMTP password of notifier `name`.
    pub fn notifier(&self, name: &str) -> Option<&Secret> {
        self.notifiers.get(name)
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
                line: None,
            });
        }
        for n in &self.notifiers {
            let (what, source) = match &n.kind {
                NotifierKind::Webhook(w) => ("secret", &w.secret),
                NotifierKind::Email(e) => ("password", &e.password),
                NotifierKind::Nats(n) => ("secret", &n.secret),
                NotifierKind::Stdout => continue,
            };
            if source.is_set() {
                out.push(SecretUse {
                    owner: format!("notifier {:?} {what}", n.name),
                    what,
                    source,
                    notifier: Some(&n.name),
                    line: Some(n.line),
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
                Ok(Some(s)) => match u.notifier {
                    Some(n) => {
                        secrets.notifiers.insert(n.to_string(), s);
                    }
                    None => secrets.api_token = Some(s),
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
