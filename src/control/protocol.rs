//! The control socket's wire format: one JSON request on one line, one JSON
//! answer on one line, then the daemon closes the connection.
//!
//! ```text
//! → {"v":1,"command":"outbox_retry","args":{"id":42,"notifier":"mail"}}
//! ← {"v":1,"daemon":"0.1.0","ok":{"alert":42,"notifiers":["mail"],"sent_now":true}}
//! ← {"v":1,"daemon":"0.1.0","error":{"code":"not_found","message":"no alert with id 42 …"}}
//! ```
//!
//! `v` is [`VERSION`]; a daemon refuses a request of another version with
//! `bad_request`, and one naming a command it does not know with
//! `unknown_command` (both say to restart the daemon after an upgrade).
//! `args` are the command's own fields; `ok` its answer. The answers carry
//! storywatch's internal records: this is how the CLI talks to its own
//! daemon, not a public API (that is the HTTP endpoint).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Command, Problem, ProblemCode};

/// The protocol version spoken by this build.
pub const VERSION: u32 = 1;

/// The longest request line a daemon reads (arguments are small).
pub const MAX_REQUEST: usize = 64 * 1024;

/// One request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    pub command: String,
    #[serde(default)]
    pub args: Value,
}

impl Request {
    /// The request line for `cmd` (without the newline).
    pub fn line<C: Command>(cmd: &C) -> Result<String, serde_json::Error> {
        let request = Request {
            v: VERSION,
            command: C::NAME.to_string(),
            args: serde_json::to_value(cmd)?,
        };
        serde_json::to_string(&request)
    }
}

/// One answer line: `ok` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    /// The answering daemon's version (for messages about mismatches).
    #[serde(default)]
    pub daemon: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
    #[serde(default)]
    pub ok: Value,
}

impl Response {
    pub fn answer(result: Result<Value, Problem>) -> Response {
        let (ok, error) = match result {
            Ok(v) => (v, None),
            Err(p) => (Value::Null, Some(p)),
        };
        Response {
            v: VERSION,
            daemon: env!("CARGO_PKG_VERSION").to_string(),
            error,
            ok,
        }
    }

    pub fn line(&self) -> String {
        // a Value and plain strings always serialise
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Reads a request line as the daemon sees it: the command's name and its
/// arguments, or the problem to answer with.
pub fn read_request(line: &str) -> Result<(String, Value), Problem> {
    let bad = |m: String| Problem::new(ProblemCode::BadRequest, m);
    let request: Request = serde_json::from_str(line.trim_end())
        .map_err(|e| bad(format!("unreadable request ({e}); expected one JSON line like {{\"v\":{VERSION},\"command\":\"status\",\"args\":{{}}}}")))?;
    if request.v != VERSION {
        return Err(bad(format!(
            "this daemon (storywatch {}) speaks control protocol {VERSION}, the command spoke {}: \
             restart the daemon after an upgrade (systemctl restart storywatch)",
            env!("CARGO_PKG_VERSION"),
            request.v
        )));
    }
    Ok((request.command, request.args))
}

/// Runs `C` on the arguments of a request (the daemon's dispatch table
/// calls this once per command).
pub fn run<C: Command>(args: Value, ctx: &super::Ctx) -> Result<Value, Problem> {
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args
    };
    let cmd: C = serde_json::from_value(args).map_err(|e| {
        Problem::new(
            ProblemCode::BadRequest,
            format!("arguments of {:?} unreadable: {e}", C::NAME),
        )
    })?;
    let answer = cmd.handle(ctx)?;
    serde_json::to_value(answer).map_err(|e| {
        Problem::new(
            ProblemCode::Failed,
            format!("answer of {:?} not encodable: {e}", C::NAME),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_another_version_or_shape_are_refused_with_a_reason() {
        let (name, args) = read_request("{\"v\":1,\"command\":\"feeds\",\"args\":{}}\n").unwrap();
        assert_eq!((name.as_str(), args), ("feeds", serde_json::json!({})));
        let (_, args) = read_request("{\"v\":1,\"command\":\"status\"}").unwrap();
        assert!(args.is_null(), "args may be left out");
        let old = read_request("{\"v\":2,\"command\":\"feeds\"}").unwrap_err();
        assert_eq!(old.code, ProblemCode::BadRequest);
        assert!(old.message.contains("restart the daemon"), "{old}");
        let junk = read_request("feeds please").unwrap_err();
        assert_eq!(junk.code, ProblemCode::BadRequest);
        assert!(junk.message.contains("\"command\""), "{junk}");
    }

    #[test]
    fn answers_carry_either_a_value_or_a_problem() {
        let ok = Response::answer(Ok(serde_json::json!([1, 2])));
        let back: Response = serde_json::from_str(&ok.line()).unwrap();
        assert_eq!(back, ok);
        assert!(!ok.line().contains("error"));
        let err = Response::answer(Err(Problem::new(ProblemCode::NotFound, "no alert 4")));
        let line = err.line();
        assert!(
            line.contains("\"error\":{\"code\":\"not_found\",\"message\":\"no alert 4\"}"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
