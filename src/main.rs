//! The `storywatch` command line. All behaviour lives in the library (the
//! commands in `src/cli/`, one file each); this file parses arguments, sets
//! up logging and the runtime, dispatches, and maps failures to exit codes:
//! 0 ok, 1 runtime failure, 2 bad config or usage.

// output goes through cli::emit, which survives a closed pipe
#![deny(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use storywatch::app::App;
use storywatch::cli::{self, emit, load, load_for_sending, locate, Failure};
use storywatch::clock::SystemClock;
use storywatch::config::DEFAULT_CONFIG_PATH;
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
    /// Feeds whose server asked to wait (Retry-After), that are backing off
    /// after failures, or that are gone (410) are skipped until their time.
    Once {
        /// Poll those feeds too.
        #[arg(long)]
        force: bool,
    },
    /// Validate the config and print a summary.
    Check,
    /// Is the daemon up and ready? Asks its HTTP endpoint (`listen`), else
    /// reads the database. Exit 0 when running and ready, 1 otherwise.
    Status,
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
        /// A tab-separated manifest with `file` and `commit_time_utc` columns
        /// (RFC 3339 like 2025-01-06T10:00:00Z, or 20250106T100000Z): capture
        /// times drive the clock.
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
    /// Try a watch query: on a feed file or text (`-` for stdin), or on the
    /// stories already stored. Exits 0 when something matched, 1 when nothing did.
    TestWatch {
        /// A query in the watch language, e.g. '"north korea" AND troops'.
        #[arg(long, conflicts_with = "watch", required_unless_present = "watch")]
        query: Option<String>,
        /// A watch from the config.
        #[arg(long)]
        watch: Option<String>,
        /// Check the stories already stored (latest versions).
        #[arg(long, conflicts_with = "input")]
        stored: bool,
        /// Apply this configured feed's name, tags and ignore patterns.
        #[arg(long)]
        feed: Option<String>,
        /// A feed document or a text file; `-` reads stdin.
        #[arg(required_unless_present = "stored")]
        input: Option<PathBuf>,
    },
    /// Show a stored story's versions (by story id, link or guid).
    History { story: String },
    /// Show what changed between two versions of a story (default: the last two).
    Diff {
        story: String,
        rev1: Option<u32>,
        rev2: Option<u32>,
    },
    /// Send a realistic test alert through one notifier now; exit 1 if it fails.
    TestNotify {
        /// The notifier's name in config.toml.
        name: String,
    },
    /// Show and manage undelivered alerts (default: list).
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Silence one story (by id, link or guid): it stays tracked but alerts
    /// nobody, for a while or until unmuted.
    Mute {
        story: String,
        /// How long, e.g. 2d or 12h; without it, until `unmute`.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
    },
    /// Let a muted story alert again.
    Unmute { story: String },
    /// List the muted stories.
    Mutes,
    /// List feeds with their status: last success, last error, next poll,
    /// how often a conditional GET saved the download, items.
    Feeds,
    /// Append the feeds of an OPML file to the config file (comments and
    /// layout are kept; URLs already configured are skipped).
    ImportOpml { file: PathBuf },
    /// Print the configured feeds as OPML 2.0.
    ExportOpml,
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Pending, failed and dead deliveries (with --all, delivered ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Make a failed or dead alert due now, with a fresh retry window.
    Retry {
        id: u64,
        /// Only this notifier's delivery.
        #[arg(long)]
        notifier: Option<String>,
    },
    /// Forget an alert and its deliveries.
    Drop { id: u64 },
}

/// jemalloc instead of glibc's malloc: a first poll of 1,000 feeds makes
/// ~250 small allocations per story from 17 threads, and glibc's malloc
/// and free were a fifth of its samples, plus futex waits on its arena
/// locks: jemalloc's thread caches cut that cycle's CPU by 23 %
/// (BENCHMARKS.md, "Issue 18, eighth session"). Tuned in [`MALLOC_CONF`].
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (`_rjem_` is the crate's prefix;
/// the `_RJEM_MALLOC_CONF` environment variable still overrides them).
/// One arena and small per-thread caches keep the peak resident size of a
/// first poll of 1,000 feeds below rss2email's: jemalloc's defaults (an
/// arena per core, caches up to 32 KiB objects) took 34 MB more at the
/// same CPU, and returning pages at once (`dirty_decay_ms:0`) cost the CPU
/// gain back.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 50] = b"narenas:1,tcache_max:1024,lg_tcache_nslots_mul:-1\0";

fn main() -> ExitCode {
    storywatch::memory::limit_arenas();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(Failure::Config(e)) => {
            eprintln!("storywatch: invalid configuration:\n{e}");
            ExitCode::from(2)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("storywatch: {e}");
            ExitCode::from(2)
        }
        // the reader went away (`storywatch demo | head -1`): nothing to say
        Err(Failure::Runtime(e))
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(Failure::Runtime(e)) => {
            // each cause once: many of our errors repeat their source's text
            eprintln!(
                "storywatch: {}",
                storywatch::notify::error_chain(e.as_ref())
            );
            ExitCode::from(1)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

fn run(args: Cli) -> Result<ExitCode, Failure> {
    match args.command {
        Command::Check => {
            let config = load(&args.config)?;
            let now = storywatch::clock::Clock::now(&SystemClock);
            cli::check::render_templates(&config, now).map_err(Failure::Config)?;
            emit(&cli::check::summary(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let config = load(&args.config)?;
            let report = cli::status::check(&config);
            emit(&report.text)?;
            Ok(if report.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Demo { state_dir } => {
            // errors only: the console notifier's complaint about a closed
            // stdout (`demo | head`) is not news
            storywatch::logging::init(storywatch::config::LogFormat::Text, "error");
            runtime()?.block_on(cli::demo::run(state_dir))?;
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
            let config = if args.config.exists() {
                Some(load(&args.config)?)
            } else {
                None
            };
            storywatch::logging::init(storywatch::config::LogFormat::Text, "warn");
            let opts = cli::replay::ReplayOptions {
                dir: &dir,
                manifest: manifest.as_deref(),
                config: config.as_ref(),
                feed: feed.as_deref(),
                state_dir: state_dir.as_deref(),
                show_removed,
            };
            cli::replay::replay(&opts, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::TestWatch {
            query,
            watch,
            stored,
            feed,
            input,
        } => cli::test_watch::run(&args.config, query, watch, stored, feed, input),
        Command::History { story } => {
            use storywatch::cli::history;
            let config = load(&args.config)?;
            let found = locate::run(&config, history::History { story })?;
            emit(&history::history(&found)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { story, rev1, rev2 } => {
            use storywatch::cli::history;
            let config = load(&args.config)?;
            let found = locate::run(&config, history::Diff { story, rev1, rev2 })?;
            emit(&history::diff(&found)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::TestNotify { name } => {
            let config = load(&args.config)?;
            storywatch::logging::init(storywatch::config::LogFormat::Text, "warn");
            let now = storywatch::clock::Clock::now(&SystemClock);
            match runtime()?.block_on(cli::test_notify::send(&config, &name, now)) {
                Ok(msg) => {
                    emit(&msg)?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("storywatch: test alert failed: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Outbox { action } => {
            use cli::outbox as ob;
            let config = load(&args.config)?;
            let out = match action.unwrap_or(OutboxAction::List { all: false }) {
                OutboxAction::List { all } => {
                    ob::format_rows(&locate::run(&config, ob::OutboxList { all })?)
                }
                OutboxAction::Retry { id, notifier } => {
                    ob::retried_text(&locate::run(&config, ob::OutboxRetry { id, notifier })?)
                }
                OutboxAction::Drop { id } => {
                    let id = locate::run(&config, ob::OutboxDrop { id })?;
                    format!("alert {id} dropped\n")
                }
            };
            emit(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mute { story, for_ } => {
            use cli::mute;
            let config = load(&args.config)?;
            let for_ms = match for_.as_deref().map(storywatch::config::units::parse_duration) {
                None => None,
                Some(Ok(d)) if !d.is_zero() => Some(d.as_millis().min(u128::from(u64::MAX)) as u64),
                Some(Ok(_)) => {
                    return Err(Failure::Usage(
                        "--for must be longer than zero, e.g. --for 2d (leave it out to mute until `storywatch unmute`)".into(),
                    ))
                }
                Some(Err(e)) => return Err(Failure::Usage(format!("--for: {e}, e.g. --for 2d"))),
            };
            emit(&mute::muted_text(&locate::run(
                &config,
                mute::Mute { story, for_ms },
            )?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Unmute { story } => {
            use cli::mute;
            let config = load(&args.config)?;
            emit(&mute::unmuted_text(&locate::run(
                &config,
                mute::Unmute { story },
            )?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mutes => {
            use cli::mute;
            let config = load(&args.config)?;
            emit(&mute::mutes_text(&locate::run(&config, mute::Mutes {})?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Feeds => {
            let config = load(&args.config)?;
            let rows = locate::run(&config, cli::feeds::Feeds {})?;
            let now = chrono::Utc::now().timestamp_millis();
            if let Some(shard) = config.shard_summary() {
                emit(&format!("{shard}:\n"))?;
            }
            emit(&cli::feeds::report(&rows, now))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ImportOpml { file } => {
            use cli::opml::ImportError;
            match cli::opml::import(&args.config, &file) {
                Ok(text) => emit(&text)?,
                Err(ImportError::Config(e)) => return Err(Failure::Config(e)),
                Err(e) => return Err(Failure::Runtime(e.into())),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ExportOpml => {
            let config = load(&args.config)?;
            emit(&cli::opml::export(&config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Once { force } => {
            let config = load_for_sending(&args.config)?;
            storywatch::logging::init(config.daemon.log_format, &config.daemon.log_level);
            let summary = runtime()?.block_on(async {
                let app = Arc::new(
                    App::open(config, Arc::new(SystemClock)).map_err(anyhow::Error::from)?,
                );
                daemon::once_with(&app, daemon::OnceOptions { force })
                    .await
                    .map_err(anyhow::Error::from)
            })?;
            eprint!("{}", cli::once::summary_text(&summary));
            Ok(if summary.polled > 0 && summary.failed == summary.polled {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Run => {
            let config = load_for_sending(&args.config)?;
            storywatch::logging::init(config.daemon.log_format, &config.daemon.log_level);
            let rt = runtime()?;
            let result = rt.block_on(async {
                // handlers first: a SIGTERM that arrives while the database
                // opens must still mean a clean stop, not a kill
                let control = signal_control()?;
                let app = Arc::new(
                    App::open(config, Arc::new(SystemClock)).map_err(anyhow::Error::from)?,
                );
                daemon::run(app, args.config.clone(), control)
                    .await
                    .map_err(anyhow::Error::from)
            });
            // the database is flushed; a retention pass still running on the
            // blocking pool must not hold up the exit
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            result?;
            Ok(ExitCode::SUCCESS)
        }
    }
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
