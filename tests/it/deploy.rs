//! The Kubernetes example in `deploy/kubernetes/`: every manifest passes
//! the Kubernetes schemas (`kubernetes-validate --strict`, which ships them
//! and needs no cluster; `.ci/run` installs it with pip), a broken one is
//! caught, the ConfigMap's config.toml passes `storywatch check`, and the
//! StatefulSet's shard count matches its replicas.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::daemon::{storywatch, write};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `kubernetes-validate --strict FILES` (or `python3 -m kubernetes_validate`
/// where pip put no script on PATH): None when it is not installed.
fn validate(files: &[PathBuf]) -> Option<(bool, String)> {
    let run = |program: &str, pre: &[&str]| {
        Command::new(program)
            .args(pre)
            .arg("--strict")
            .args(files)
            .output()
            .ok()
            .filter(|o| !String::from_utf8_lossy(&o.stderr).contains("No module named"))
    };
    let out = run("kubernetes-validate", &[])
        .or_else(|| run("python3", &["-m", "kubernetes_validate"]))?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}

#[test]
fn the_manifests_pass_the_kubernetes_schemas() {
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    let Some((ok, out)) = validate(&files) else {
        eprintln!(
            "SKIPPED deploy::the_manifests_pass_the_kubernetes_schemas: kubernetes-validate is not installed (python3 -m pip install kubernetes-validate; .ci/run does)"
        );
        return;
    };
    assert!(ok, "{out}");
    for kind in ["configmap/", "secret/", "service/", "statefulset/"] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{kind} not validated:\n{out}"
        );
    }
    // and the validator does catch a mistake
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("statefulset.yaml");
    let text = std::fs::read_to_string(dir().join("statefulset.yaml")).unwrap();
    write(&broken, &text.replace("replicas: 3", "replicas: three"));
    let (ok, out) = validate(&[broken]).unwrap();
    assert!(!ok, "a StatefulSet with replicas: three passed:\n{out}");
}

/// The `config.toml: |` block of the ConfigMap, unindented.
fn configmap_config() -> String {
    let text = std::fs::read_to_string(dir().join("configmap.yaml")).unwrap();
    let block = text
        .split_once("config.toml: |\n")
        .expect("configmap.yaml has a config.toml block")
        .1;
    block
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_configmap_is_a_valid_config_and_shards_match_replicas() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    write(&path, &configmap_config());
    let p = path.display().to_string();
    for k in 0..3 {
        let (code, out, err) = storywatch(
            &["check", "--config", &p],
            &[("STORYWATCH_SHARD", &format!("{k}/3"))],
        );
        assert_eq!(code, 0, "the ConfigMap's config.toml fails check:\n{err}");
        assert!(out.contains(&format!("shard {k}/3 polls")), "{out}");
        assert!(out.contains("nats to nats://"), "{out}");
    }

    let set = std::fs::read_to_string(dir().join("statefulset.yaml")).unwrap();
    let replicas: u32 = set
        .lines()
        .find_map(|l| l.trim().strip_prefix("replicas: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("replicas");
    let shards = set
        .lines()
        .skip_while(|l| !l.contains("name: STORYWATCH_SHARD"))
        .find_map(|l| l.trim().strip_prefix("value: "))
        .expect("STORYWATCH_SHARD's value");
    assert_eq!(
        shards,
        format!("\"$(POD_INDEX)/{replicas}\""),
        "STORYWATCH_SHARD's N must equal replicas"
    );
}
