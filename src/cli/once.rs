//! `storywatch once`: poll every feed once, deliver what is due, exit (for
//! cron). The work is the daemon's ([`crate::daemon::once_with`]); this is
//! what the command says about it afterwards.

use std::fmt::Write;

use crate::clock::local;
use crate::daemon::OnceSummary;

/// Feeds named in the "skipped" line; the rest are counted.
const NAMED: usize = 5;

/// The lines `storywatch once` prints on stderr.
pub fn summary_text(s: &OnceSummary) -> String {
    let mut out = format!(
        "polled {} feeds ({} failed), {} alerts, {} delivered, {} still owed (retrying, or held by a digest, quiet hours or a rate limit), {} dead (see `storywatch outbox list`)\n",
        s.polled, s.failed, s.alerts, s.delivered, s.undelivered, s.dead
    );
    if s.skipped.is_empty() {
        return out;
    }
    let named: Vec<String> = s
        .skipped
        .iter()
        .take(NAMED)
        .map(|(feed, w)| {
            let why = if w.gone {
                "gone".to_string()
            } else {
                match &w.last_error {
                    Some(e) => format!("{} failures, last: {e}", w.failures),
                    None => format!("{} failures", w.failures),
                }
            };
            format!("{feed} until {} ({why})", local(w.until))
        })
        .collect();
    let more = s.skipped.len().saturating_sub(NAMED);
    let _ = writeln!(
        out,
        "skipped {} feed{} that must wait (the server asked with Retry-After, backoff after failures, or gone; `--force` polls them anyway): {}{}",
        s.skipped.len(),
        if s.skipped.len() == 1 { "" } else { "s" },
        named.join("; "),
        if more > 0 { format!("; and {more} more") } else { String::new() }
    );
    out
}
