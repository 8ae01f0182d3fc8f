//! `storywatch import-opml FILE` and `storywatch export-opml`: a feed
//! reader's subscription list into config.toml, and the configured feeds
//! out as OPML 2.0. The format itself is [`crate::opml`].

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::opml::{self, ImportReport};

/// `export-opml`: the configured feeds as an OPML 2.0 document.
pub fn export(config: &Config) -> String {
    opml::render(config, "storywatch feeds")
}

/// `import-opml`: imports the feeds and says what was added and skipped.
pub fn import(config_path: &Path, opml_path: &Path) -> Result<String, ImportError> {
    use std::fmt::Write;
    let report = import_opml(config_path, opml_path)?;
    let mut out = String::new();
    for (name, url) in &report.added {
        let _ = writeln!(out, "added   {name:<24} {url}");
    }
    for (url, why) in &report.skipped {
        let _ = writeln!(out, "skipped {url}: {why}");
    }
    let _ = writeln!(
        out,
        "{} feeds added to {}{}",
        report.added.len(),
        config_path.display(),
        if report.added.is_empty() {
            ""
        } else {
            " (reload a running daemon with SIGHUP: systemctl reload storywatch)"
        }
    );
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Opml {
        path: String,
        source: opml::OpmlError,
    },
    #[error("the config with the imported feeds does not validate, so nothing was written:\n{0}")]
    Invalid(ConfigError),
}

/// Appends the OPML file's feeds to the config file (see
/// [`opml::append_feeds`]), validates the result, and only then replaces
/// the file (written beside it and renamed, so a crash leaves either the
/// old or the new file, never half of one).
pub fn import_opml(config_path: &Path, opml_path: &Path) -> Result<ImportReport, ImportError> {
    let io = |path: &Path, source: std::io::Error| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(config_path).map_err(|e| io(config_path, e))?;
    let config = Config::from_toml(config_path, &text)?;
    let opml_text = std::fs::read_to_string(opml_path).map_err(|e| io(opml_path, e))?;
    let feeds = opml::parse(&opml_text).map_err(|source| ImportError::Opml {
        path: opml_path.display().to_string(),
        source,
    })?;
    let report = opml::append_feeds(&text, &config, &feeds);
    if report.added.is_empty() {
        return Ok(report);
    }
    Config::from_toml(config_path, &report.text).map_err(ImportError::Invalid)?;
    let tmp = config_path.with_extension("toml.importing");
    std::fs::write(&tmp, &report.text).map_err(|e| io(&tmp, e))?;
    if let Ok(meta) = std::fs::metadata(config_path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, config_path).map_err(|e| io(config_path, e))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_writes_only_a_valid_config() {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        let original = "# comment kept\n[[feed]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n";
        std::fs::write(&config_path, original).unwrap();
        let opml_path = dir.path().join("subs.opml");
        std::fs::write(
            &opml_path,
            "<opml version=\"1.0\"><body><outline text=\"B\" xmlUrl=\"https://b.example/rss\"/></body></opml>",
        )
        .unwrap();
        let report = import_opml(&config_path, &opml_path).unwrap();
        assert_eq!(
            report.added,
            [("b".to_string(), "https://b.example/rss".to_string())]
        );
        let written = std::fs::read_to_string(&config_path).unwrap();
        assert!(written.starts_with(original));
        assert_eq!(Config::load(&config_path).unwrap().feeds.len(), 2);
        // not OPML: a clear error, the config untouched
        std::fs::write(&opml_path, "<html></html>").unwrap();
        let err = import_opml(&config_path, &opml_path).unwrap_err();
        assert!(err.to_string().contains("not an OPML file"), "{err}");
        assert_eq!(std::fs::read_to_string(&config_path).unwrap(), written);
    }
}
