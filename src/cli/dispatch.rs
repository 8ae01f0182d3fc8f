//! The daemon's table of the commands it answers on its control socket
//! ([`crate::control`]): a command's name → its handler. Adding a command
//! means a type implementing [`Command`] in the command's own file and one
//! line here; the command reaches it through [`crate::cli::locate::run`].

use serde_json::Value;

use crate::control::protocol::run as handle;
use crate::control::{Command, Ctx, Problem, ProblemCode};

/// The daemon's dispatch table: runs the command called `name`.
pub fn dispatch(name: &str, args: Value, ctx: &Ctx) -> Result<Value, Problem> {
    use crate::cli::history;
    use crate::cli::{feeds, mute, outbox, status, test_watch};
    match name {
        status::Status::NAME => handle::<status::Status>(args, ctx),
        feeds::Feeds::NAME => handle::<feeds::Feeds>(args, ctx),
        history::History::NAME => handle::<history::History>(args, ctx),
        history::Diff::NAME => handle::<history::Diff>(args, ctx),
        test_watch::StoredMatches::NAME => handle::<test_watch::StoredMatches>(args, ctx),
        outbox::OutboxList::NAME => handle::<outbox::OutboxList>(args, ctx),
        outbox::OutboxRetry::NAME => handle::<outbox::OutboxRetry>(args, ctx),
        outbox::OutboxDrop::NAME => handle::<outbox::OutboxDrop>(args, ctx),
        mute::Mute::NAME => handle::<mute::Mute>(args, ctx),
        mute::Unmute::NAME => handle::<mute::Unmute>(args, ctx),
        mute::Mutes::NAME => handle::<mute::Mutes>(args, ctx),
        other => Err(Problem::new(
            ProblemCode::UnknownCommand,
            format!(
                "the running daemon (storywatch {}) does not know the command {other:?}: \
                 restart it to run the installed storywatch (e.g. `systemctl restart storywatch`)",
                env!("CARGO_PKG_VERSION")
            ),
        )),
    }
}
