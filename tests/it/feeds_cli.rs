//! `storywatch feeds`, `import-opml` and `export-opml` as a user runs them.

use std::process::Command;

fn storywatch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_storywatch"))
        .args(args)
        .env_remove("STORYWATCH_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run storywatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn import_export_and_list_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let original = format!(
        "# My feeds. This comment must survive an import.\n[daemon]\nstate_dir = \"{}\"  # trailing comment\n\n[[feed]]\nname = \"local\"\nurl = \"https://local.example/feed.xml\"\n",
        dir.path().join("state").display()
    );
    std::fs::write(&config, &original).unwrap();
    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        r#"<?xml version="1.0"?><opml version="2.0"><head/><body>
<outline text="World"><outline text="Le Monde — International" xmlUrl="https://www.lemonde.fr/international/rss_full.xml"/></outline>
<outline text="Local again" xmlUrl="https://local.example/feed.xml"/>
</body></opml>"#,
    )
    .unwrap();
    let c = config.to_str().unwrap();

    let (code, out, err) = storywatch(&["import-opml", opml.to_str().unwrap(), "--config", c]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added   le-monde-international"), "{out}");
    assert!(
        out.contains("skipped https://local.example/feed.xml: already configured"),
        "{out}"
    );
    assert!(out.contains("1 feeds added"), "{out}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with(&original),
        "comments and layout kept:\n{text}"
    );
    assert!(text.contains("tags = [\"World\"]"), "{text}");

    let (code, out, err) = storywatch(&["check", "--config", c]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("feeds (2)"), "{out}");

    let (code, out, _) = storywatch(&["export-opml", "--config", c]);
    assert_eq!(code, 0);
    assert!(out.contains("<opml version=\"2.0\">"), "{out}");
    assert!(
        out.contains("xmlUrl=\"https://www.lemonde.fr/international/rss_full.xml\""),
        "{out}"
    );
    assert!(out.contains("category=\"World\""), "{out}");

    let (code, out, err) = storywatch(&["feeds", "--config", c]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.contains("le-monde-international") && out.contains("never"),
        "{out}"
    );

    // a broken OPML file changes nothing and says why
    std::fs::write(&opml, "<html>not opml</html>").unwrap();
    let (code, _, err) = storywatch(&["import-opml", opml.to_str().unwrap(), "--config", c]);
    assert_eq!(code, 1);
    assert!(err.contains("not an OPML file"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}
