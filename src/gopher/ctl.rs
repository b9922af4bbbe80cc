//! The gopher-ctl channel (gala-gopher 2.0.2 and later): `gopher-ctl probe get NAME` and
//! `gopher-ctl probe set NAME JSON`, one bounded process each. gopher-ctl speaks a private
//! binary protocol to gala-gopher's command socket, so the program is run, never the socket.
//!
//! It exits 0 whenever gala-gopher answered, refusals included (the reply says which), and
//! non-zero with plain text when it could not reach gala-gopher.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::channel::{result_of, Answer, Channel, ChannelError};
use crate::process::{self, RunError};

/// One call answers in milliseconds; this long means gala-gopher is stuck.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Shortens [`TIMEOUT`] (never lengthens it), so tests of a hung gopher-ctl finish quickly.
pub const TIMEOUT_ENV: &str = "AOPS_AGENT_GOPHER_TIMEOUT_MS";
/// A probe's configuration is a few hundred bytes.
const MAX_OUTPUT: usize = 64 * 1024;

pub struct GopherCtl {
    program: PathBuf,
    timeout: Duration,
}

/// [`TIMEOUT`], or the shorter one `AOPS_AGENT_GOPHER_TIMEOUT_MS` asks for.
pub fn timeout_from_env() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(TIMEOUT, |ms| Duration::from_millis(ms).min(TIMEOUT))
}

impl GopherCtl {
    pub fn new(program: PathBuf, timeout: Duration) -> GopherCtl {
        GopherCtl { program, timeout }
    }

    fn run(&self, args: &[&str]) -> Result<String, ChannelError> {
        let shown = format!("{} {}", self.program.display(), args.join(" "));
        let mut cmd = Command::new(&self.program);
        cmd.args(args);
        let done = process::run(&mut cmd, self.timeout, MAX_OUTPUT).map_err(|e| match e {
            RunError::Spawn(e) => {
                ChannelError::Unreachable(format!("cannot run {}: {e}", self.program.display()))
            }
            RunError::Timeout => ChannelError::Timeout(format!(
                "`{shown}` did not finish within {:?} and was killed",
                self.timeout
            )),
        })?;
        if !done.status.success() {
            // "Failed to connect to gopher cmd server, err=..." when gala-gopher is not running.
            let mut why = format!("{} {}", done.stdout.trim(), done.stderr.trim());
            why = why.trim().to_string();
            if why.is_empty() {
                why = done.status.to_string();
            }
            return Err(ChannelError::Unreachable(format!(
                "`{shown}` failed: {why}"
            )));
        }
        Ok(done.stdout)
    }
}

impl Channel for GopherCtl {
    fn describe(&self) -> String {
        self.program.display().to_string()
    }

    fn get(&self, probe: &str) -> Result<Answer, ChannelError> {
        let out = self.run(&["probe", "get", probe])?;
        match serde_json::from_str::<Value>(out.trim()) {
            Ok(Value::Object(doc)) => {
                if doc.contains_key("result") {
                    let message = doc.get("message").and_then(Value::as_str).unwrap_or("");
                    return Ok(Answer::Refused(message.to_string()));
                }
                Ok(Answer::Doc(doc))
            }
            _ => Err(ChannelError::Protocol(format!(
                "`gopher-ctl probe get {probe}` printed no probe configuration: {:?}",
                clip(&out)
            ))),
        }
    }

    fn set(&self, probe: &str, doc: &str) -> Result<Answer, ChannelError> {
        let out = self.run(&["probe", "set", probe, doc])?;
        match result_of(&out) {
            Some(Ok(())) => Ok(Answer::Accepted),
            Some(Err(message)) => Ok(Answer::Refused(message)),
            None => Err(ChannelError::Protocol(format!(
                "`gopher-ctl probe set {probe}` printed no result: {:?}",
                clip(&out)
            ))),
        }
    }
}

/// Enough of a strange reply for the journal.
pub fn clip(s: &str) -> &str {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::fake::Scratch;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Instant;

    fn program(dir: &Path, body: &str) -> GopherCtl {
        let p = dir.join("gopher-ctl");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        GopherCtl::new(p, Duration::from_millis(500))
    }

    #[test]
    fn replies_are_read_by_their_result_not_the_exit_status() {
        let dir = Scratch::new("ctl-replies");
        let ctl = program(
            &dir,
            r#"case "$2" in
get) [ "$3" = nosuch ] && { echo '{ "result": "failed", "message":"probe nosuch not found" }'; exit 0; }
     echo '{"cmd":{"probe":["tcp_rtt"]},"state":"running"}' ;;
set) [ "$3" = bad ] && { echo '{ "result": "failed", "message":"unsupported probe range: x" }'; exit 0; }
     echo "$4" > "$(dirname "$0")/sent"; echo '{ "result": "success", "message":"New config takes effect" }' ;;
esac"#,
        );
        match ctl.get("tcp").unwrap() {
            Answer::Doc(d) => assert_eq!(d["state"], "running"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ctl.get("nosuch").unwrap(),
            Answer::Refused("probe nosuch not found".into())
        );
        assert_eq!(
            ctl.set("tcp", "{\"state\":\"stopped\"}").unwrap(),
            Answer::Accepted
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("sent")).unwrap(),
            "{\"state\":\"stopped\"}\n"
        );
        assert_eq!(
            ctl.set("bad", "{}").unwrap(),
            Answer::Refused("unsupported probe range: x".into())
        );
    }

    #[test]
    fn gala_gopher_down_is_unreachable_with_gopher_ctls_words() {
        let dir = Scratch::new("ctl-down");
        let ctl = program(
            &dir,
            "echo 'Failed to connect to gopher cmd server, err=No such file or directory'; exit 1",
        );
        let e = ctl.get("tcp").unwrap_err();
        assert!(matches!(e, ChannelError::Unreachable(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("Failed to connect to gopher cmd server"),
            "{e}"
        );
        let missing = GopherCtl::new("/nonexistent/gopher-ctl".into(), TIMEOUT);
        assert!(matches!(
            missing.get("tcp"),
            Err(ChannelError::Unreachable(_))
        ));
    }

    #[test]
    fn a_hung_gopher_ctl_is_killed_at_the_bound() {
        let dir = Scratch::new("ctl-hang");
        let ctl = program(&dir, "exec sleep 30");
        let started = Instant::now();
        let e = ctl.set("tcp", "{}").unwrap_err();
        assert!(matches!(e, ChannelError::Timeout(_)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let dir = Scratch::new("ctl-garbage");
        let ctl = program(&dir, "echo hello");
        assert!(matches!(ctl.get("tcp"), Err(ChannelError::Protocol(_))));
        assert!(matches!(
            ctl.set("tcp", "{}"),
            Err(ChannelError::Protocol(_))
        ));
    }
}
