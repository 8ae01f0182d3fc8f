//! Disk trouble: a state directory that is read-only, or on a filesystem
//! that fills up. Nothing stored before is lost or corrupted, the error says
//! what is wrong, and storywatch recovers once space returns.
//!
//! The full-disk case mounts a small tmpfs, which needs root: it is
//! `#[ignore]`d and run by `.ci/run` (`cargo test --test it disk:: -- --ignored`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{rss, FeedServer, WebhookReceiver};
use storywatch::app::App;
use storywatch::clock::ManualClock;
use storywatch::config::Config;
use storywatch::daemon;
use storywatch::store::Store;

fn config(state: &Path, feed: &str, hook: &str) -> Config {
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nper_host_delay = \"0s\"\ncache_size = \"1MiB\"\n\
         [[feed]]\nname = \"news\"\nurl = \"{feed}\"\n\
         [[watch]]\nname = \"storm\"\nquery = 'storm'\n\
         [[notifier]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}\"\n",
        state.display()
    );
    Config::from_toml(Path::new("t.toml"), &text).unwrap()
}

#[test]
fn read_only_state_dir_is_a_clear_error() {
    if unsafe_is_root() {
        // root ignores permission bits; the read-only mount case below covers root
        eprintln!("read_only_state_dir_is_a_clear_error: running as root, checked with a read-only tmpfs in full_disk_* instead");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
    let err = Store::open(&state, 1 << 20).err().expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains(&state.display().to_string()), "{msg}");
    assert!(
        msg.contains("not writable") || msg.contains("ermission"),
        "{msg}"
    );
}

fn unsafe_is_root() -> bool {
    // `id -u` avoids an unsafe libc call
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// A small tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "cannot mount a tmpfs at {}: this test needs root (run it through .ci/run)",
            path.display()
        );
        Tmpfs { path, _parent: dir }
    }

    fn remount(&self, opts: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem holding `dir` until writes fail.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 << 10];
    while f.write_all(&block).and_then(|_| f.sync_all()).is_ok() {}
    filler
}

#[tokio::test]
#[ignore = "mounts a tmpfs: needs root; run by .ci/run"]
async fn full_disk_then_space_returns() {
    let fs = Tmpfs::mount("24m");
    let state = fs.path.join("state");
    let feeds = FeedServer::start().await;
    let hook = WebhookReceiver::start().await;
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let app =
        Arc::new(App::open(config(&state, &feeds.url(), &hook.url()), clock.clone()).unwrap());
    feeds.set(
        "application/rss+xml",
        rss(&[("a", "Calm day", "Nothing happens.")]),
    );
    daemon::once(&app).await.unwrap();

    // the disk fills up, then a story arrives
    let filler = fill(&fs.path);
    clock.advance(600_000);
    let mut big = String::new();
    for i in 0..400 {
        big.push_str(&format!(
            "Storm paragraph {i} with enough words to need space on disk. "
        ));
    }
    feeds.set(
        "application/rss+xml",
        rss(&[
            ("s", "Storm hits the coast", &big),
            ("a", "Calm day", "Nothing happens."),
        ]),
    );
    let result = daemon::once(&app).await;
    let err = result
        .expect_err("a full disk must be reported, not ignored")
        .to_string();
    assert!(
        err.contains("No space left") || err.contains("full"),
        "{err}"
    );
    eprintln!("reported: {err}");
    std::fs::remove_file(&filler).unwrap();
    // sled refuses writes for the rest of this process (the daemon exits and
    // systemd restarts it); nothing was sent meanwhile
    assert!(daemon::once(&app).await.is_err());
    assert!(
        hook.received().is_empty(),
        "no alert leaves before it is durable"
    );
    drop(app);

    // space returns: storywatch opens the same database and catches up
    let app = Arc::new(
        App::open(config(&state, &feeds.url(), &hook.url()), clock.clone())
            .expect("database reopens after a full disk"),
    );
    assert!(app.store.story("nonexistent").unwrap().is_none());
    let st = app
        .store
        .feed_state("news")
        .unwrap()
        .expect("state from before the full disk is intact");
    assert!(st.baseline_done);
    clock.advance(600_000);
    let s = daemon::once(&app).await.unwrap();
    assert_eq!(s.failed, 0);
    let got = hook.received();
    assert_eq!(
        got.len(),
        1,
        "the story that arrived while the disk was full is alerted once"
    );
    assert_eq!(got[0].json()["story"]["title"], "Storm hits the coast");

    // a read-only state dir is refused with a clear message
    drop(app);
    fs.remount("ro");
    let err = Store::open(&state, 1 << 20)
        .err()
        .expect("read-only must fail")
        .to_string();
    fs.remount("rw");
    assert!(
        err.contains("Read-only") || err.contains("read-only") || err.contains("not writable"),
        "{err}"
    );
}
