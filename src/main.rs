//! The `storywatch` command line. All behaviour lives in the library; this
//! file parses arguments, sets up logging and the runtime, and maps failures
//! to exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use storywatch::app::App;
use storywatch::clock::SystemClock;
use storywatch::config::{Config, ConfigError, NotifierKind, DEFAULT_CONFIG_PATH};
use storywatch::daemon::{self, Control};

#[derive(Parser)]
#[command(
    name = "storywatch",
    version,
    about = "Watches news feeds for the stories you care about and tells you when they appear or change."
)]
struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, env = "STORYWATCH_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll feeds on schedule, deliver alerts (systemd-ready).
    Run,
    /// Poll every feed once, deliver what is due, and exit (for cron).
    Once,
    /// Validate the config and print a summary.
    Check,
    /// Show what storywatch does, offline, in a few seconds.
    Demo {
        /// Keep the demo's database here instead of a temporary directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Replay saved captures of a feed (a directory, in name order) through
    /// the tracker with a temporary database; one JSON line per event.
    Replay {
        dir: PathBuf,
        /// MANIFEST.tsv with file and commit_time_utc columns: capture times drive the clock.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Apply this configured feed's rules (ignore patterns, threshold) and evaluate the watches.
        #[arg(long)]
        feed: Option<String>,
        /// Print `removed` events too.
        #[arg(long)]
        show_removed: bool,
        /// Keep the database here.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Show a stored story's versions (by story id, link or guid).
    History { story: String },
    /// Show what changed between two versions of a story (default: the last two).
    Diff {
        story: String,
        rev1: Option<u32>,
        rev2: Option<u32>,
    },
    /// List feeds with their status: last success, last error, next poll,
    /// how often a conditional GET saved the download, items.
    Feeds,
    /// Append the feeds of an OPML file to the config file (comments and
    /// layout are kept; URLs already configured are skipped).
    ImportOpml { file: PathBuf },
    /// Print the configured feeds as OPML 2.0.
    ExportOpml,
}

/// A failure and the exit code it maps to.
enum Failure {
    Config(ConfigError),
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Config(e)) => {
            eprintln!("storywatch: invalid configuration:\n{e}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("storywatch: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(Failure::Config)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Check => {
            let config = load(&cli.config)?;
            print_summary(&config);
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { state_dir } => {
            storywatch::logging::init(storywatch::config::LogFormat::Text, "warn");
            runtime()?.block_on(storywatch::demo::run(state_dir))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            dir,
            manifest,
            feed,
            show_removed,
            state_dir,
        } => {
            // a config is optional here: without one, default rules apply
            let config = if cli.config.exists() {
                Some(load(&cli.config)?)
            } else {
                None
            };
            storywatch::logging::init(storywatch::config::LogFormat::Text, "warn");
            let opts = storywatch::replay::ReplayOptions {
                dir: &dir,
                manifest: manifest.as_deref(),
                config: config.as_ref(),
                feed: feed.as_deref(),
                state_dir: state_dir.as_deref(),
                show_removed,
            };
            storywatch::replay::replay(&opts, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::History { story } => {
            let config = load(&cli.config)?;
            let store = open_store(&config)?;
            print!("{}", storywatch::history::history(&store, &story)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { story, rev1, rev2 } => {
            let config = load(&cli.config)?;
            let store = open_store(&config)?;
            print!("{}", storywatch::history::diff(&store, &story, rev1, rev2)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Feeds => {
            let config = load(&cli.config)?;
            let store = open_store(&config)?;
            let now = chrono::Utc::now().timestamp_millis();
            print!(
                "{}",
                storywatch::feeds_cli::feeds_report(&config, &store, now)
                    .map_err(anyhow::Error::from)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportOpml { file } => {
            use storywatch::feeds_cli::{import_opml, ImportError};
            let report = match import_opml(&cli.config, &file) {
                Ok(r) => r,
                Err(ImportError::Config(e)) => return Err(Failure::Config(e)),
                Err(e) => return Err(Failure::Runtime(e.into())),
            };
            for (name, url) in &report.added {
                println!("added   {name:<24} {url}");
            }
            for (url, why) in &report.skipped {
                println!("skipped {url}: {why}");
            }
            println!(
                "{} feeds added to {}{}",
                report.added.len(),
                cli.config.display(),
                if report.added.is_empty() {
                    ""
                } else {
                    " (reload a running daemon with SIGHUP: systemctl reload storywatch)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ExportOpml => {
            let config = load(&cli.config)?;
            print!("{}", storywatch::opml::render(&config, "storywatch feeds"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Once => {
            let config = load(&cli.config)?;
            storywatch::logging::init(config.daemon.log_format, &config.daemon.log_level);
            let summary = runtime()?.block_on(async {
                let app = Arc::new(
                    App::open(config, Arc::new(SystemClock)).map_err(anyhow::Error::from)?,
                );
                daemon::once(&app).await.map_err(anyhow::Error::from)
            })?;
            eprintln!(
                "polled {} feeds ({} failed), {} alerts, {} delivered, {} waiting for retry",
                summary.polled,
                summary.failed,
                summary.alerts,
                summary.delivered,
                summary.undelivered
            );
            Ok(if summary.polled > 0 && summary.failed == summary.polled {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Run => {
            let config = load(&cli.config)?;
            storywatch::logging::init(config.daemon.log_format, &config.daemon.log_level);
            runtime()?.block_on(async {
                let app = Arc::new(
                    App::open(config, Arc::new(SystemClock)).map_err(anyhow::Error::from)?,
                );
                let control = signal_control()?;
                daemon::run(app, cli.config.clone(), control)
                    .await
                    .map_err(anyhow::Error::from)
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open_store(config: &Config) -> Result<storywatch::store::Store, Failure> {
    storywatch::store::Store::open(&config.daemon.state_dir, config.daemon.cache_size)
        .map_err(|e| Failure::Runtime(e.into()))
}

/// SIGHUP → reload, SIGTERM/SIGINT → stop.
fn signal_control() -> anyhow::Result<Control> {
    use tokio::signal::unix::{signal, SignalKind};
    let (reload_tx, reload) = tokio::sync::mpsc::channel(4);
    let (stop_tx, shutdown) = tokio::sync::watch::channel(false);
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = hup.recv() => { let _ = reload_tx.try_send(()); }
                Some(()) = term.recv() => { let _ = stop_tx.send(true); }
                Some(()) = int.recv() => { let _ = stop_tx.send(true); }
            }
        }
    });
    Ok(Control { reload, shutdown })
}

/// What `check` prints: enough to see the config was understood, nothing
/// secret (webhook URLs often embed tokens, so only their host is shown).
fn print_summary(config: &Config) {
    println!("{}: ok", config.path.display());
    println!("state_dir: {}", config.daemon.state_dir.display());
    println!("feeds ({}):", config.feeds.len());
    for f in &config.feeds {
        let tags = if f.tags.is_empty() {
            String::new()
        } else {
            format!(" tags={}", f.tags.join(","))
        };
        println!(
            "  {:<20} every {:>6}  {}{tags}",
            f.name,
            humantime::format_duration(f.interval(&config.daemon)).to_string(),
            f.url
        );
    }
    println!("watches ({}):", config.watches.len());
    for w in &config.watches {
        let query = w.query.as_ref().map(|q| q.to_string()).unwrap_or_default();
        let on: Vec<&str> = w.on.iter().map(|t| t.as_str()).collect();
        let notify = if w.notify.is_empty() {
            "all notifiers".to_string()
        } else {
            w.notify.join(", ")
        };
        println!(
            "  {:<20} {query}\n  {:<20} on {} ≥ {} → {notify}",
            w.name,
            "",
            on.join("/"),
            w.min_materiality
        );
    }
    println!("notifiers ({}):", config.notifiers.len());
    for n in &config.notifiers {
        let what = match &n.kind {
            NotifierKind::Stdout => "stdout".to_string(),
            NotifierKind::Webhook(w) => format!(
                "webhook ({:?}) to {}://{}{}/…{}",
                w.preset,
                w.url.scheme(),
                w.url.host_str().unwrap_or(""),
                w.url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                if w.secret.is_some() { ", signed" } else { "" }
            ),
            NotifierKind::Email(e) => format!(
                "email via {}:{} ({:?}) to {}",
                e.host,
                e.port,
                e.security,
                e.to.iter()
                    .map(|m| m.email.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut shaping = Vec::new();
        if let Some(d) = n.digest {
            shaping.push(format!("digest {}", humantime::format_duration(d)));
        }
        if let Some(r) = n.max_per_story {
            shaping.push(format!(
                "max {} per {} per story",
                r.count,
                humantime::format_duration(r.per)
            ));
        }
        if n.quiet_hours.is_some() {
            shaping.push("quiet hours".into());
        }
        let shaping = if shaping.is_empty() {
            String::new()
        } else {
            format!(" [{}]", shaping.join(", "))
        };
        println!("  {:<20} {what}{shaping}", n.name);
    }
}
