//! /etc/gala-gopher/probes.init: the probe configurations gala-gopher's unit replays at start,
//! one `NAME JSON` line each (`#` lines and blank lines ignored, whitespace deleted from the
//! JSON, at most 30 lines replayed).
//!
//! An edit replaces one line's bytes and keeps every other byte, comments and line endings
//! included; the line written is whitespace-free JSON, as the replay would make it. The replay
//! reads with `while read line`, which drops a last line that has no newline: such a line says
//! nothing about state, and gets its newline when the agent edits it.

use std::ops::Range;

use serde_json::{Map, Value};

/// gala-gopher's unit replays no more lines than this.
pub const MAX_PROBE_LINES: usize = 30;

#[derive(Debug, Clone)]
pub struct ProbesInit {
    bytes: Vec<u8>,
    lines: Vec<Line>,
}

#[derive(Debug, Clone)]
struct Line {
    /// The line's bytes, without its line ending.
    span: Range<usize>,
    name: String,
    /// The configuration, when the JSON parses (with whitespace deleted, as replayed).
    doc: Option<Map<String, Value>>,
    /// Ends with a newline, so the replay reads it.
    terminated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// The probe's line holds no JSON object the agent can change without losing it.
    Unparsable(String),
    /// Adding a line would go past what gala-gopher replays.
    Full,
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditError::Unparsable(name) => {
                write!(
                    f,
                    "the line for {name} is not a JSON object; edit it by hand"
                )
            }
            EditError::Full => write!(
                f,
                "it already has {MAX_PROBE_LINES} probe lines, as many as gala-gopher replays"
            ),
        }
    }
}

fn without_whitespace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

impl ProbesInit {
    pub fn parse(bytes: Vec<u8>) -> ProbesInit {
        let mut lines = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let end = bytes[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| at + i);
            let content = &bytes[at..end];
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            let span = at..at + content.len();
            let terminated = end < bytes.len();
            at = end + 1;
            let text = String::from_utf8_lossy(content);
            let trimmed = text.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (name, json) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            let doc = match serde_json::from_str::<Value>(&without_whitespace(json)) {
                Ok(Value::Object(m)) => Some(m),
                _ => None,
            };
            lines.push(Line {
                span,
                name: name.to_string(),
                doc,
                terminated,
            });
        }
        ProbesInit { bytes, lines }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The lines gala-gopher replays, in order.
    pub fn probe_lines(&self) -> usize {
        self.lines.len()
    }

    /// Probe names with a line, in file order, each once.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in &self.lines {
            if !out.contains(&l.name.as_str()) {
                out.push(&l.name);
            }
        }
        out
    }

    /// The last replayed line for `name` wins, as it is applied last.
    fn last(&self, name: &str) -> Option<&Line> {
        self.lines
            .iter()
            .take(MAX_PROBE_LINES)
            .rfind(|l| l.name == name)
    }

    /// The configuration the replay gives `name`, if it has a line.
    pub fn doc(&self, name: &str) -> Option<Option<&Map<String, Value>>> {
        self.last(name).map(|l| l.doc.as_ref())
    }

    /// Whether the replay leaves `name` running.
    pub fn is_running(&self, name: &str) -> bool {
        self.last(name)
            .filter(|l| l.terminated)
            .and_then(|l| l.doc.as_ref())
            .and_then(|d| d.get("state"))
            .and_then(Value::as_str)
            == Some("running")
    }

    /// The file with `name`'s line saying `state` (`running`/`stopped`); `Ok(None)` when it
    /// already does or there is no line.
    pub fn with_state(&self, name: &str, state: &str) -> Result<Option<Vec<u8>>, EditError> {
        let Some(line) = self.last(name) else {
            return Ok(None);
        };
        let Some(doc) = &line.doc else {
            return Err(EditError::Unparsable(name.to_string()));
        };
        if doc.get("state").and_then(Value::as_str) == Some(state) && line.terminated {
            return Ok(None);
        }
        let mut doc = doc.clone();
        doc.insert("state".into(), Value::String(state.into()));
        Ok(Some(self.replaced(line, name, &doc)))
    }

    /// The file with `name`'s configuration set to `doc`: its last line replaced, or a line
    /// added at the end.
    pub fn with_doc(&self, name: &str, doc: &Map<String, Value>) -> Result<Vec<u8>, EditError> {
        if let Some(line) = self.last(name) {
            return Ok(self.replaced(line, name, doc));
        }
        if self.lines.len() >= MAX_PROBE_LINES {
            return Err(EditError::Full);
        }
        let mut out = self.bytes.clone();
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(line_text(name, doc).as_bytes());
        out.push(b'\n');
        Ok(out)
    }

    fn replaced(&self, line: &Line, name: &str, doc: &Map<String, Value>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 64);
        out.extend_from_slice(&self.bytes[..line.span.start]);
        out.extend_from_slice(line_text(name, doc).as_bytes());
        out.extend_from_slice(&self.bytes[line.span.end..]);
        if !line.terminated {
            out.push(b'\n');
        }
        out
    }
}

/// `NAME JSON`, the JSON whitespace-free (strings included: the replay deletes every
/// whitespace character anyway, so this is what gala-gopher would be given).
fn line_text(name: &str, doc: &Map<String, Value>) -> String {
    let json = serde_json::to_string(doc).unwrap_or_else(|_| "{}".into());
    format!("{name} {}", without_whitespace(&json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEMPLATE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gala-gopher/2.x/probes.init"
    ));

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_shipped_template_has_no_probe_lines() {
        let p = ProbesInit::parse(TEMPLATE.as_bytes().to_vec());
        assert_eq!(p.probe_lines(), 0);
        assert!(!p.is_running("tcp"));
        assert_eq!(p.with_state("tcp", "running"), Ok(None));
    }

    #[test]
    fn a_state_change_rewrites_only_that_line() {
        let text = "# comment\r\ntcp {\"cmd\": {\"probe\": [\"tcp_rtt\"]}, \"state\": \"stopped\"}\r\n\n  \
                    io {\"state\":\"running\"}\nproc {\"state\":\"running\"}\n";
        let p = ProbesInit::parse(text.as_bytes().to_vec());
        assert_eq!(p.names(), ["tcp", "io", "proc"]);
        assert!(p.is_running("io") && !p.is_running("tcp"));
        let new = String::from_utf8(p.with_state("tcp", "running").unwrap().unwrap()).unwrap();
        assert_eq!(
            new,
            "# comment\r\ntcp {\"cmd\":{\"probe\":[\"tcp_rtt\"]},\"state\":\"running\"}\r\n\n  \
             io {\"state\":\"running\"}\nproc {\"state\":\"running\"}\n"
        );
        let new = String::from_utf8(p.with_state("proc", "stopped").unwrap().unwrap()).unwrap();
        assert!(new.ends_with("\nproc {\"state\":\"stopped\"}\n"), "{new}");
        assert!(
            new.starts_with("# comment\r\ntcp {\"cmd\": {\"probe\""),
            "{new}"
        );
        // Already so: nothing to write.
        assert_eq!(p.with_state("io", "running"), Ok(None));
    }

    #[test]
    fn whitespace_inside_the_json_is_deleted_as_the_replay_does() {
        let p = ProbesInit::parse(b"jvm { \"state\" : \"run ning\" }\n".to_vec());
        assert!(p.is_running("jvm"));
    }

    #[test]
    fn the_last_line_of_a_name_wins_and_is_the_one_edited() {
        let p =
            ProbesInit::parse(b"io {\"state\":\"running\"}\nio {\"state\":\"stopped\"}\n".to_vec());
        assert!(!p.is_running("io"));
        let new = p.with_state("io", "running").unwrap().unwrap();
        assert_eq!(
            new,
            b"io {\"state\":\"running\"}\nio {\"state\":\"running\"}\n".to_vec()
        );
    }

    #[test]
    fn a_last_line_without_newline_is_not_replayed_and_gets_one_when_edited() {
        let p = ProbesInit::parse(
            b"io {\"state\":\"running\"}\nkafka {\"state\":\"running\"}".to_vec(),
        );
        assert!(p.is_running("io") && !p.is_running("kafka"));
        let new = p.with_state("kafka", "running").unwrap().unwrap();
        assert_eq!(
            new,
            b"io {\"state\":\"running\"}\nkafka {\"state\":\"running\"}\n".to_vec()
        );
        assert!(ProbesInit::parse(new).is_running("kafka"));
    }

    #[test]
    fn an_unparsable_line_is_never_rewritten() {
        let p = ProbesInit::parse(b"tcp {not json\n".to_vec());
        assert_eq!(
            p.with_state("tcp", "running"),
            Err(EditError::Unparsable("tcp".into()))
        );
    }

    #[test]
    fn lines_are_added_at_the_end_up_to_the_replay_limit() {
        let p = ProbesInit::parse(TEMPLATE.as_bytes().to_vec());
        let doc = obj(json!({"state": "running", "cmd": {"probe": ["tcp_rtt"]}}));
        let new = p.with_doc("tcp", &doc).unwrap();
        let want = format!(
            "{TEMPLATE}\ntcp {{\"cmd\":{{\"probe\":[\"tcp_rtt\"]}},\"state\":\"running\"}}\n"
        );
        assert_eq!(String::from_utf8(new).unwrap(), want);

        let full: String = (0..MAX_PROBE_LINES)
            .map(|i| format!("p{i} {{}}\n"))
            .collect();
        let p = ProbesInit::parse(full.into_bytes());
        assert_eq!(p.with_doc("tcp", &doc), Err(EditError::Full));
        // A probe already there is replaced, full or not.
        assert!(p.with_doc("p3", &doc).is_ok());
        // Lines past the 30th are not replayed, so they say nothing about state.
        let p = ProbesInit::parse(
            format!(
                "{}late {{\"state\":\"running\"}}\n",
                (0..MAX_PROBE_LINES)
                    .map(|i| format!("p{i} {{}}\n"))
                    .collect::<String>()
            )
            .into_bytes(),
        );
        assert!(!p.is_running("late"));
    }
}
