//! Secrets (SMTP passwords, webhook signing keys, API tokens).
//!
//! They come from an environment variable, a file, or a systemd credential
//! (`LoadCredential=` puts it in `$CREDENTIALS_DIRECTORY`), never from
//! config.toml itself, so the config can be world-readable and committed.
//! `Secret` has no `Display` and a redacting `Debug`, so it cannot leak into
//! logs or `storywatch check` output by accident.
//!
//! A [`SecretSource`] says where a secret lives; it is read only when a
//! command is about to send ([`SecretSource::resolve`]), so commands that
//! send nothing work where the secret is not available (`check` outside
//! systemd, `status` without the webhook's environment).

use std::path::{Path, PathBuf};

/// A secret value; `Debug` prints `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is handed to a protocol.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from, as written in config.toml with a prefix, e.g.
/// `password_env`, `password_file`, `password_credential`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSource {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
    pub credential: Option<String>,
}

impl SecretSource {
    pub fn is_set(&self) -> bool {
        self.env.is_some() || self.file.is_some() || self.credential.is_some()
    }

    /// What can be checked without reading the secret: at most one source,
    /// and a credential name that stays inside `$CREDENTIALS_DIRECTORY`.
    pub fn check_shape(&self, what: &str) -> Result<(), SecretError> {
        let set = [
            self.env.is_some(),
            self.file.is_some(),
            self.credential.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err(SecretError::Ambiguous { what: what.into() });
        }
        if let Some(name) = &self.credential {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(SecretError::CredentialName {
                    what: what.into(),
                    name: name.clone(),
                });
            }
        }
        if self.env.as_deref() == Some("") {
            return Err(SecretError::EnvUnset {
                what: what.into(),
                var: String::new(),
            });
        }
        Ok(())
    }

    /// Where the secret comes from, for `storywatch check` (never the value).
    pub fn describe(&self) -> Option<String> {
        if let Some(var) = &self.env {
            Some(format!("environment variable {var}"))
        } else if let Some(path) = &self.file {
            Some(format!("file {}", path.display()))
        } else {
            self.credential.as_ref().map(|name| {
                format!("systemd credential {name:?} ($CREDENTIALS_DIRECTORY/{name}, from LoadCredential=)")
            })
        }
    }

    /// Whether the secret can be read here and now (it is read and
    /// dropped at once).
    pub fn availability(&self, what: &str) -> Availability {
        match self.resolve(what) {
            Ok(Some(_)) => Availability::Available,
            Ok(None) => Availability::NotConfigured,
            Err(SecretError::NoCredentials { .. }) => Availability::OnlyUnderSystemd,
            Err(e) => Availability::Missing(e.to_string()),
        }
    }

    /// Reads the secret. `what` names the key for the error ("password"),
    /// and the error says how to fix it.
    pub fn resolve(&self, what: &str) -> Result<Option<Secret>, SecretError> {
        self.check_shape(what)?;
        let what = what.to_string();
        if let Some(var) = &self.env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Some(Secret(v))),
                _ => Err(SecretError::EnvUnset {
                    what,
                    var: var.clone(),
                }),
            };
        }
        if let Some(path) = &self.file {
            return read_secret_file(path, what).map(Some);
        }
        if let Some(name) = &self.credential {
            let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
                return Err(SecretError::NoCredentials {
                    what,
                    name: name.clone(),
                });
            };
            return read_secret_file(&Path::new(&dir).join(name), what).map(Some);
        }
        Ok(None)
    }
}

/// Whether a configured secret can be read where a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    NotConfigured,
    Available,
    /// A systemd credential, asked for outside systemd: expected when
    /// `check` runs from a shell; the service will have it.
    OnlyUnderSystemd,
    /// Cannot be read, and why (says what to do).
    Missing(String),
}

/// A secret that cannot be had, and how to fix that.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("set only one of {what}_env, {what}_file and {what}_credential")]
    Ambiguous { what: String },
    #[error("{what}_env names the environment variable {var}, which is not set or empty: export it, or use {what}_file")]
    EnvUnset { what: String, var: String },
    #[error("{what}_credential = {name:?} needs $CREDENTIALS_DIRECTORY, which systemd sets for LoadCredential=; outside systemd use {what}_env or {what}_file")]
    NoCredentials { what: String, name: String },
    #[error("cannot read {what} from {}: {source}; check the path and that the storywatch user may read it", path.display())]
    Read {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} file {} is empty", path.display())]
    Empty { what: String, path: PathBuf },
    #[error("{what}_credential = {name:?} is not a credential name (no '/', not '.' or '..'): use the name given to LoadCredential=")]
    CredentialName { what: String, name: String },
}

fn read_secret_file(path: &Path, what: String) -> Result<Secret, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        what: what.clone(),
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        return Err(SecretError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(Secret(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(s)).contains("hunter2"));
    }

    #[test]
    fn file_source_trims_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        let src = SecretSource {
            file: Some(p),
            ..Default::default()
        };
        assert_eq!(src.resolve("password").unwrap().unwrap().expose(), "s3cret");
    }

    #[test]
    fn shape_is_checked_without_reading() {
        let both = SecretSource {
            env: Some("A".into()),
            file: Some("/x".into()),
            ..Default::default()
        };
        assert!(matches!(
            both.check_shape("secret"),
            Err(SecretError::Ambiguous { .. })
        ));
        let escape = SecretSource {
            credential: Some("../../etc/shadow".into()),
            ..Default::default()
        };
        assert!(matches!(
            escape.check_shape("secret"),
            Err(SecretError::CredentialName { .. })
        ));
        let unset = SecretSource {
            env: Some("STORYWATCH_TEST_SURELY_UNSET".into()),
            ..Default::default()
        };
        assert!(unset.check_shape("secret").is_ok(), "not read yet");
        assert!(matches!(
            unset.availability("secret"),
            Availability::Missing(m) if m.contains("STORYWATCH_TEST_SURELY_UNSET")
        ));
    }

    #[test]
    fn missing_env_explains() {
        let src = SecretSource {
            env: Some("STORYWATCH_TEST_SURELY_UNSET".into()),
            ..Default::default()
        };
        let err = src.resolve("secret").unwrap_err().to_string();
        assert!(err.contains("STORYWATCH_TEST_SURELY_UNSET"), "{err}");
    }
}
