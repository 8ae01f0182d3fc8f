//! The running application: the database, the HTTP client, metrics, the
//! clock, and the reloadable part (config, compiled watches, notifiers).
//!
//! Reload swaps the reloadable part atomically: a poll or a delivery that
//! already started finishes with the config it started with, and state
//! (stories, outbox) is untouched because it lives in the store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::clock::Clock;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{AuthKind, Config, FeedConfig};
use crate::fetch::{ClientError, Credential, FeedCredentials, FetchSettings, Fetcher};
use crate::gates::Gates;
use crate::metrics::Metrics;
use crate::notify::{Notifier, NotifierError};
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use crate::watch::Matcher;

/// What a config reload replaces.
pub struct Shared {
    pub config: Config,
    pub matcher: Matcher,
    pub notifiers: BTreeMap<String, Arc<Notifier>>,
    /// Concurrency limits and per-host delays for this config's settings.
    pub gates: Arc<Gates>,
    /// The HTTP endpoint's bearer token, read from where the config says.
    pub api_token: Option<Secret>,
    /// Private feeds' headers and credentials, by feed name.
    pub feed_credentials: BTreeMap<String, FeedCredentials>,
}

impl Shared {
    /// Reads the secrets (all problems at once) and builds the notifiers.
    pub fn build(config: Config) -> Result<Shared, AppError> {
        let secrets = config.resolve_secrets().map_err(AppError::Secrets)?;
        let matcher = Matcher::new(&config);
        let mut notifiers = BTreeMap::new();
        for n in &config.notifiers {
            let secret = secrets.notifier(&n.name).cloned();
            let built =
                Notifier::with_secret(n, &config.daemon.user_agent, secret).map_err(|source| {
                    AppError::Notifier {
                        name: n.name.clone(),
                        source,
                    }
                })?;
            notifiers.insert(n.name.clone(), Arc::new(built));
        }
        let feed_credentials = config
            .feeds
            .iter()
            .filter(|f| !f.headers.is_empty() || f.auth.is_some())
            .map(|f| (f.name.clone(), feed_credentials(f, secrets.feed(&f.name))))
            .collect();
        Ok(Shared {
            gates: Arc::new(Gates::new(&config.daemon)),
            feed_credentials,
            api_token: secrets.api_token,
            config,
            matcher,
            notifiers,
        })
    }
}

/// A feed's `headers` and `auth` with its secret, as the fetcher sends
/// them. The config check made sure the headers are valid.
fn feed_credentials(feed: &FeedConfig, secret: Option<&Secret>) -> FeedCredentials {
    let mut headers = HeaderMap::new();
    for (name, value) in &feed.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    let credential = feed
        .auth
        .as_ref()
        .zip(secret.cloned())
        .map(|(auth, secret)| match auth.kind {
            AuthKind::Basic => Credential::Basic {
                username: auth.username.clone().unwrap_or_default(),
                password: secret,
            },
            AuthKind::Bearer => Credential::Bearer(secret),
            AuthKind::Cookie => Credential::Cookie(secret),
            AuthKind::Query => Credential::Query {
                param: auth.param.clone().unwrap_or_default(),
                value: secret,
            },
        });
    FeedCredentials {
        headers,
        credential,
    }
}

pub struct App {
    shared: RwLock<Arc<Shared>>,
    pub store: Store,
    pub fetcher: Fetcher,
    pub metrics: Metrics,
    pub clock: Arc<dyn Clock>,
    /// Woken when alerts are written, so delivery does not wait for a timer.
    pub delivery_wake: tokio::sync::Notify,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("notifier {name:?}: {source}")]
    Notifier {
        name: String,
        #[source]
        source: NotifierError,
    },
    /// A secret the config names cannot be read here.
    #[error("secrets the config names cannot be read:\n{0}")]
    Secrets(#[source] crate::config::ConfigError),
    #[error("state_dir changed from {} to {}: restart storywatch to move the database", from.display(), to.display())]
    StateDirChanged { from: PathBuf, to: PathBuf },
}

impl App {
    /// Opens the database and builds everything the config describes.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<App, AppError> {
        let store = Store::open(&config.daemon.state_dir, config.daemon.cache_size)?;
        let fetcher = Fetcher::new(&FetchSettings {
            user_agent: config.daemon.user_agent.clone(),
            timeout: config.daemon.timeout,
            connect_timeout: config.daemon.connect_timeout,
        })?;
        let shared = Shared::build(config)?;
        Ok(App {
            shared: RwLock::new(Arc::new(shared)),
            store,
            fetcher,
            metrics: Metrics::default(),
            clock,
            delivery_wake: tokio::sync::Notify::new(),
        })
    }

    /// The current config, watches and notifiers.
    pub fn shared(&self) -> Arc<Shared> {
        match self.shared.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces config, watches and notifiers. The state dir cannot change
    /// while running (the database is open).
    pub fn reload(&self, config: Config) -> Result<(), AppError> {
        let current = self.shared();
        if config.daemon.state_dir != current.config.daemon.state_dir {
            return Err(AppError::StateDirChanged {
                from: current.config.daemon.state_dir.clone(),
                to: config.daemon.state_dir.clone(),
            });
        }
        let next = Arc::new(Shared::build(config)?);
        match self.shared.write() {
            Ok(mut s) => *s = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }

    pub fn now(&self) -> crate::model::UnixMs {
        self.clock.now()
    }
}
