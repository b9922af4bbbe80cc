//! The one thing gala-gopher 2.x's two control channels (gopher-ctl and REST) have in common:
//! read a probe's configuration, send a new one. `dynamic` builds on this and does not know
//! which channel it talks to.

use std::fmt;

use serde_json::{Map, Value};

/// What gala-gopher answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A probe's configuration (for a get); `{}` when it was never configured.
    Doc(Map<String, Value>),
    /// The new configuration took effect.
    Accepted,
    /// gala-gopher refused, with its message (which may arrive cut short).
    Refused(String),
    /// This build has no probe of that name.
    NoSuchProbe,
}

/// gala-gopher could not be asked at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// Not running, not installed, refused the connection, or cannot be spoken to.
    Unreachable(String),
    /// Asked, but no answer within the bound.
    Timeout(String),
    /// It answered something that is not an answer.
    Protocol(String),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::Unreachable(s) | ChannelError::Timeout(s) | ChannelError::Protocol(s) => {
                f.write_str(s)
            }
        }
    }
}

impl std::error::Error for ChannelError {}

pub trait Channel: Sync {
    /// How the journal names this channel ("gopher-ctl", "REST at http://127.0.0.1:9999").
    fn describe(&self) -> String;
    /// The probe's current configuration.
    fn get(&self, probe: &str) -> Result<Answer, ChannelError>;
    /// Sends `doc` (whitespace-free JSON) as the probe's new configuration.
    fn set(&self, probe: &str, doc: &str) -> Result<Answer, ChannelError>;
}

/// Reads through one channel and changes through another: REST for the many reads of a
/// listing, gopher-ctl for changes. A read that cannot reach the first goes to the second.
pub struct Split<'a> {
    pub reads: &'a dyn Channel,
    pub changes: &'a dyn Channel,
}

impl Channel for Split<'_> {
    fn describe(&self) -> String {
        format!(
            "{} (reads through {})",
            self.changes.describe(),
            self.reads.describe()
        )
    }

    fn get(&self, probe: &str) -> Result<Answer, ChannelError> {
        match self.reads.get(probe) {
            Err(ChannelError::Unreachable(_)) => self.changes.get(probe),
            other => other,
        }
    }

    fn set(&self, probe: &str, doc: &str) -> Result<Answer, ChannelError> {
        self.changes.set(probe, doc)
    }
}

/// gala-gopher's replies to a set: `{"result": "success"|"failed", "message": "..."}`.
/// Anything else that parses is not a reply to a set; text that does not parse (a reply cut
/// at gala-gopher's 128-byte buffer) is `None`, and the caller goes by what it knows besides.
pub fn result_of(text: &str) -> Option<Result<(), String>> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match v.get("result").and_then(Value::as_str) {
        Some("success") => Some(Ok(())),
        Some(_) => Some(Err(message)),
        None => None,
    }
}

/// Probe names go into URLs and command lines: only the characters gala-gopher's own names use.
pub fn is_probe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replies_are_read_as_gala_gopher_writes_them() {
        assert_eq!(
            result_of("{ \"result\": \"success\", \"message\":\"New config takes effect\" }\n"),
            Some(Ok(()))
        );
        assert_eq!(
            result_of(
                "{ \"result\": \"failed\", \"message\":\"unsupported probe range: proc_pygc\" }"
            ),
            Some(Err("unsupported probe range: proc_pygc".into()))
        );
        assert_eq!(
            result_of("{ \"result\": \"failed\", \"message\":\"probe ran"),
            None
        );
        assert_eq!(result_of("{\"state\":\"running\"}"), None);
    }

    #[test]
    fn probe_names_are_plain() {
        assert!(is_probe_name("postgre_sli") && is_probe_name("my-probe2"));
        for bad in ["", "../x", "a b", "tcp?x=1", "t%63p", "a/b"] {
            assert!(!is_probe_name(bad), "{bad}");
        }
    }
}
