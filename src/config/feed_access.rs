//! How a private or paywalled feed lets us in: extra request `headers`
//! and one credential (`auth`): HTTP Basic, a bearer token, a cookie, or a
//! token in the query string. The credential's value comes from
//! `secret_env`, `secret_file` or `secret_credential` (a systemd
//! credential), never from config.toml, and is read only by the commands
//! that poll.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::document::Problems;
use crate::secret::SecretSource;

/// The kinds of credential a feed can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// `Authorization: Basic` with `username` and the secret as password.
    Basic,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Cookie: <secret>` (as the browser sends it, `name=value; …`).
    Cookie,
    /// `?<auth_param>=<secret>` added to the feed's URL.
    Query,
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Basic => "basic",
            AuthKind::Bearer => "bearer",
            AuthKind::Cookie => "cookie",
            AuthKind::Query => "query",
        }
    }
}

/// A feed's credential, as configured (the secret not yet read).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedAuth {
    pub kind: AuthKind,
    /// Basic: the user name.
    pub username: Option<String>,
    /// Query: the parameter's name.
    pub param: Option<String>,
    pub secret: SecretSource,
}

/// Headers a feed may not set: the HTTP client's, or storywatch's own
/// (conditional GETs), or a credential that belongs in `auth`.
const RESERVED: &[(&str, &str)] = &[
    ("host", "it comes from url"),
    ("content-length", "the HTTP client sets it"),
    ("transfer-encoding", "the HTTP client sets it"),
    ("connection", "a hop-by-hop header the HTTP client manages"),
    ("if-none-match", "storywatch sends the feed's ETag itself"),
    ("if-modified-since", "storywatch sends the feed's Last-Modified itself"),
    ("authorization", "config.toml is no place for a credential: set auth = \"basic\" or \"bearer\" and secret_env, secret_file or secret_credential"),
];

/// The problems of one feed's `headers`, each a message for the user.
pub(super) fn header_problems(headers: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in headers {
        if let Some((_, why)) = RESERVED
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(name.trim()))
        {
            out.push(format!("headers: {name:?} may not be set: {why}"));
        } else if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            out.push(format!("headers: {name:?} is not a valid header name (letters, digits and -, no spaces or colons), e.g. headers = {{ \"X-Client\" = \"storywatch\" }}"));
        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
            out.push(format!("headers: the value of {name:?} is not a valid header value (no line breaks or control characters)"));
        }
    }
    out
}

/// The keys of `auth` as written, checked together.
pub(super) struct AuthKeys<'a> {
    pub kind: Option<AuthKind>,
    pub username: &'a Option<String>,
    pub param: &'a Option<String>,
    pub secret: SecretSource,
}

/// The feed's credential, with a problem for each key that does not fit.
/// `line_of` finds the line of a key for the message.
pub(super) fn auth(
    keys: AuthKeys,
    label: &str,
    line_of: impl Fn(&str) -> usize,
    problems: &mut Problems,
) -> Option<FeedAuth> {
    let mut bad = |key: &str, message: String| {
        problems.at(line_of(key), format!("{label}: {message}"));
    };
    if let Err(e) = keys.secret.check_shape("secret") {
        bad("secret_env", e.to_string());
    }
    let Some(kind) = keys.kind else {
        if keys.secret.is_set() {
            bad("secret_env", "a secret without auth: say how to send it, auth = \"basic\", \"bearer\", \"cookie\" or \"query\"".into());
        }
        if keys.username.is_some() {
            bad(
                "username",
                "username applies only to auth = \"basic\"".into(),
            );
        }
        if keys.param.is_some() {
            bad(
                "auth_param",
                "auth_param applies only to auth = \"query\"".into(),
            );
        }
        return None;
    };
    let name = kind.as_str();
    if !keys.secret.is_set() {
        bad("auth", format!("auth = \"{name}\" needs its secret: set secret_env, secret_file or secret_credential (the value never goes in config.toml)"));
    }
    match (kind, keys.username) {
        (AuthKind::Basic, None) => bad("auth", "auth = \"basic\" needs username = \"…\"".into()),
        (AuthKind::Basic, Some(u)) if u.contains(':') => {
            bad("username", "a Basic username cannot contain ':'".into())
        }
        (AuthKind::Basic, _) | (_, None) => {}
        (_, Some(_)) => bad(
            "username",
            format!("username applies only to auth = \"basic\", not \"{name}\""),
        ),
    }
    match (kind, keys.param) {
        (AuthKind::Query, None) => bad(
            "auth",
            "auth = \"query\" needs the parameter's name, e.g. auth_param = \"token\"".into(),
        ),
        (AuthKind::Query, Some(p)) if p.trim().is_empty() => {
            bad("auth_param", "auth_param must not be empty".into())
        }
        (AuthKind::Query, _) | (_, None) => {}
        (_, Some(_)) => bad(
            "auth_param",
            format!("auth_param applies only to auth = \"query\", not \"{name}\""),
        ),
    }
    Some(FeedAuth {
        kind,
        username: keys.username.clone(),
        param: keys.param.clone(),
        secret: keys.secret,
    })
}
