//! Sets `[agent] port` (and adds `[agent] allow_from`) in agent.conf by editing that one line,
//! so comments, spacing, ordering and every other key stay byte for byte (the previous agent
//! rewrote the whole `[agent]` section and lost `ip`).
//!
//! Lines are matched the way [`crate::config`] reads them: sections and keys are
//! case-sensitive, `=` or `:` separates, `;` and `#` start comment lines. The result is parsed
//! back before anything is written, so an edit the reader would see differently is refused.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::peers::AllowList;

/// One change to `[agent]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Port(u16),
    AllowFrom(AllowList),
}

impl Edit {
    fn key(&self) -> &'static str {
        match self {
            Edit::Port(_) => "port",
            Edit::AllowFrom(_) => "allow_from",
        }
    }

    fn value(&self) -> String {
        match self {
            Edit::Port(p) => p.to_string(),
            Edit::AllowFrom(a) => a.to_string(),
        }
    }

    /// `key=value`, as the edit writes it.
    pub fn describe(&self) -> String {
        format!("{}={}", self.key(), self.value())
    }

    /// Why `c` (the edited file read back) does not hold this edit, if it does not.
    fn missing_in(&self, c: &Config) -> Option<String> {
        match self {
            Edit::Port(p) if c.port != *p => Some(format!(
                "the edited file would read back as port {}",
                c.port
            )),
            Edit::AllowFrom(a) if c.allow_from.as_ref() != Some(a) => Some(format!(
                "the edited file would not read back as allow_from={a}"
            )),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum ConfEditError {
    Io { file: PathBuf, err: io::Error },
    NotUtf8 { file: PathBuf },
    Unreadable { file: PathBuf, reason: String },
}

impl fmt::Display for ConfEditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfEditError::Io { file, err } => write!(f, "{}: {err}", file.display()),
            ConfEditError::NotUtf8 { file } => write!(f, "{}: not valid UTF-8", file.display()),
            ConfEditError::Unreadable { file, reason } => {
                write!(f, "{}: edit not applied: {reason}", file.display())
            }
        }
    }
}

impl std::error::Error for ConfEditError {}

/// A line split into its text and its line ending (`\n`, `\r\n` or nothing at end of file).
fn split_eol(line: &str) -> (&str, &str) {
    if let Some(body) = line.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = line.strip_suffix('\n') {
        (body, "\n")
    } else {
        (line, "")
    }
}

/// The section a header line opens, if it is one.
fn section_of(body: &str) -> Option<&str> {
    let t = body.trim_start();
    let rest = t.strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(rest[..end].trim())
}

/// A `key = value` line: (key, byte offset of the separator).
fn key_of(body: &str) -> Option<(&str, usize)> {
    let t = body.trim_start();
    if t.is_empty() || t.starts_with(';') || t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let sep = body.find(['=', ':'])?;
    Some((body[..sep].trim(), sep))
}

/// `text` with every `[agent] port` line set to `port`, or one added under the first `[agent]`
/// (after its last key), or an `[agent]` section appended. Nothing else changes.
pub fn with_agent_port(text: &str, port: u16) -> String {
    with_agent_key(text, "port", &port.to_string())
}

/// [`with_agent_port`] for any `[agent]` key.
pub fn with_agent_key(text: &str, wanted: &str, value: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut section: Option<&str> = None;
    let mut replaced = false;
    // Where a missing key goes: after the last key of the first [agent] block (or its header),
    // copying that key's layout.
    let mut in_first_agent = false;
    let mut insert_after: Option<usize> = None;
    let mut layout: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let (body, eol) = split_eol(line);
        if let Some(name) = section_of(body) {
            section = Some(name);
            in_first_agent = name == "agent" && insert_after.is_none();
            if in_first_agent {
                insert_after = Some(i);
            }
            continue;
        }
        if section != Some("agent") {
            continue;
        }
        let Some((key, sep)) = key_of(body) else {
            continue;
        };
        let after = &body[sep + 1..];
        let lead = after.len() - after.trim_start().len();
        if in_first_agent {
            // `  ip = x` gives `  port = `: indentation and spacing around the separator.
            let indent = body.len() - body.trim_start().len();
            let before_sep = &body[indent + key.len()..sep];
            insert_after = Some(i);
            layout = Some(format!(
                "{}{wanted}{before_sep}{}{}",
                &body[..indent],
                &body[sep..sep + 1],
                &after[..lead]
            ));
        }
        if key == wanted {
            let val = after.trim_start();
            let trail = &val[val.trim_end().len()..];
            out[i] = format!("{}{}{value}{trail}{eol}", &body[..sep + 1], &after[..lead]);
            replaced = true;
        }
    }
    if replaced {
        return out.concat();
    }
    let file_eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    match insert_after {
        Some(at) => {
            let fallback = format!("{wanted}=");
            let new_line = format!("{}{value}", layout.as_deref().unwrap_or(&fallback));
            let (body, eol) = split_eol(lines[at]);
            out[at] = if eol.is_empty() {
                // The file ends on this line without a newline: keep it ending that way.
                format!("{body}{file_eol}{new_line}")
            } else {
                format!("{body}{eol}{new_line}{eol}")
            };
            out.concat()
        }
        None => {
            let mut s = text.to_string();
            if !s.is_empty() && !s.ends_with('\n') {
                s.push_str(file_eol);
            }
            s.push_str(&format!("[agent]{file_eol}{wanted}={value}{file_eol}"));
            s
        }
    }
}

/// An edit worked out and checked, not yet written.
struct Prepared {
    file: PathBuf,
    old: String,
    new: String,
    meta: Option<fs::Metadata>,
}

fn prepare(path: &Path, edits: &[Edit]) -> Result<Prepared, ConfEditError> {
    // Edit the file a symlink points to; replacing the link would detach it from its target.
    let file = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let io_err = |err| ConfEditError::Io {
        file: file.clone(),
        err,
    };
    let (old, meta) = match fs::read(&file) {
        Ok(bytes) => (bytes, Some(fs::metadata(&file).map_err(io_err)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), None),
        Err(e) => return Err(io_err(e)),
    };
    let old = String::from_utf8(old).map_err(|_| ConfEditError::NotUtf8 { file: file.clone() })?;
    let new = edits.iter().fold(old.clone(), |text, e| {
        with_agent_key(&text, e.key(), &e.value())
    });
    let reason = match Config::parse(&file, &new) {
        Ok(c) => edits.iter().find_map(|e| e.missing_in(&c)),
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = reason {
        return Err(ConfEditError::Unreadable { file, reason });
    }
    Ok(Prepared {
        file,
        old,
        new,
        meta,
    })
}

/// Checks that [`set_agent_port`] would succeed in editing the file, without writing anything.
pub fn check_agent_port(path: &Path, port: u16) -> Result<(), ConfEditError> {
    check_agent(path, &[Edit::Port(port)])
}

/// Checks that [`set_agent`] would succeed with `edits`, without writing anything.
pub fn check_agent(path: &Path, edits: &[Edit]) -> Result<(), ConfEditError> {
    prepare(path, edits).map(|_| ())
}

/// Sets `[agent] port` in the file at `path` (created when absent), atomically: a temporary
/// file beside it with the same mode and owner, fsync, rename. A failure leaves it untouched.
/// Returns whether the file changed.
pub fn set_agent_port(path: &Path, port: u16) -> Result<bool, ConfEditError> {
    set_agent(path, &[Edit::Port(port)])
}

/// Applies every edit in one atomic replacement, as [`set_agent_port`] does for one.
pub fn set_agent(path: &Path, edits: &[Edit]) -> Result<bool, ConfEditError> {
    let p = prepare(path, edits)?;
    if p.new == p.old && p.meta.is_some() {
        return Ok(false);
    }
    write_atomic(&p.file, p.new.as_bytes(), p.meta.as_ref()).map_err(|err| ConfEditError::Io {
        file: p.file.clone(),
        err,
    })?;
    Ok(true)
}

fn write_atomic(path: &Path, bytes: &[u8], like: Option<&fs::Metadata>) -> io::Result<()> {
    let mode = like.map(|m| m.mode() & 0o7777).unwrap_or(0o644);
    let owner = like.map(|m| (m.uid(), m.gid()));
    crate::atomic_file::replace(path, bytes, mode, owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SHIPPED: &str = "[agent]\nip=127.0.0.1\nport=12000\n[gopher]\nconfig_path=/opt/gala-gopher/gala-gopher.conf\n[log]\nlog_level=INFO\n";

    #[test]
    fn changes_only_the_port_line() {
        assert_eq!(
            with_agent_port(SHIPPED, 12345),
            SHIPPED.replace("port=12000", "port=12345")
        );
        let spaced = "# agent\r\n[agent]\r\n  port = 12000   \r\nip=0.0.0.0\r\n";
        assert_eq!(
            with_agent_port(spaced, 8),
            "# agent\r\n[agent]\r\n  port = 8   \r\nip=0.0.0.0\r\n"
        );
        // Other sections' port keys, comments and differently cased keys are not ours.
        let other = "[web]\nport=1\n[agent]\n;port=2\nPort=3\nport: 4\n";
        assert_eq!(
            with_agent_port(other, 9),
            "[web]\nport=1\n[agent]\n;port=2\nPort=3\nport: 9\n"
        );
    }

    #[test]
    fn adds_the_key_after_the_last_key_of_agent() {
        let t = "[agent]\nip = 0.0.0.0\n\n# logging\n[log]\nlog_level=INFO\n";
        assert_eq!(
            with_agent_port(t, 12001),
            "[agent]\nip = 0.0.0.0\nport = 12001\n\n# logging\n[log]\nlog_level=INFO\n"
        );
        assert_eq!(with_agent_port("[agent]\n", 5), "[agent]\nport=5\n");
        assert_eq!(with_agent_port("[agent]", 5), "[agent]\nport=5");
        assert_eq!(
            with_agent_port("[agent]\nip=::1", 5),
            "[agent]\nip=::1\nport=5"
        );
    }

    #[test]
    fn adds_the_section_when_there_is_none() {
        assert_eq!(with_agent_port("", 7), "[agent]\nport=7\n");
        assert_eq!(
            with_agent_port("[log]\nlog_level=INFO", 7),
            "[log]\nlog_level=INFO\n[agent]\nport=7\n"
        );
        assert_eq!(
            with_agent_port("[log]\r\nlog_level=INFO\r\n", 7),
            "[log]\r\nlog_level=INFO\r\n[agent]\r\nport=7\r\n"
        );
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aops-conf-edit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn file_is_replaced_keeping_mode_and_symlink() {
        let d = tempdir("file");
        let real = d.join("real.conf");
        fs::write(&real, SHIPPED).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = d.join("agent.conf");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(set_agent_port(&link, 12001).unwrap());
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_to_string(&real).unwrap(),
            SHIPPED.replace("port=12000", "port=12001")
        );
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o7777, 0o640);
        assert!(
            !set_agent_port(&link, 12001).unwrap(),
            "no change, no write"
        );
        assert_eq!(fs::read_dir(&d).unwrap().count(), 2, "no temporary left");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_file_is_created_and_bad_files_are_left_alone() {
        let d = tempdir("missing");
        let conf = d.join("etc/aops/agent.conf");
        check_agent_port(&conf, 9).unwrap();
        assert!(!conf.exists(), "a check writes nothing");
        assert!(set_agent_port(&conf, 9).unwrap());
        assert_eq!(fs::read_to_string(&conf).unwrap(), "[agent]\nport=9\n");
        assert_eq!(fs::metadata(&conf).unwrap().mode() & 0o7777, 0o644);
        let latin1 = d.join("latin1.conf");
        fs::write(&latin1, b"[agent]\n# caf\xe9\n").unwrap();
        let e = set_agent_port(&latin1, 9).unwrap_err().to_string();
        assert!(e.ends_with("latin1.conf: not valid UTF-8"), "{e}");
        assert_eq!(fs::read(&latin1).unwrap(), b"[agent]\n# caf\xe9\n");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn allow_from_is_added_like_port() {
        let allow = Edit::AllowFrom(AllowList::parse("192.168.1.23").unwrap());
        let t = "# keep\n[agent]\n ip = 0.0.0.0 ; note\nport = 12000\n\n[log]\nlog_level=INFO";
        assert_eq!(
            with_agent_key(t, "allow_from", "192.168.1.23"),
            "# keep\n[agent]\n ip = 0.0.0.0 ; note\nport = 12000\nallow_from = 192.168.1.23\n\n[log]\nlog_level=INFO"
        );
        let d = tempdir("allow");
        let conf = d.join("agent.conf");
        fs::write(&conf, SHIPPED).unwrap();
        assert!(set_agent(&conf, &[Edit::Port(9), allow.clone()]).unwrap());
        assert_eq!(
            fs::read_to_string(&conf).unwrap(),
            SHIPPED.replace("port=12000\n", "port=9\nallow_from=192.168.1.23\n")
        );
        // An edit the reader would refuse is refused before anything is written.
        let broken = "[agent]\nport=abc\n";
        fs::write(&conf, broken).unwrap();
        let e = check_agent(&conf, &[allow]).unwrap_err().to_string();
        assert!(e.contains("edit not applied"), "{e}");
        assert_eq!(fs::read_to_string(&conf).unwrap(), broken);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn every_result_reads_back_as_the_new_port() {
        for t in [
            SHIPPED,
            "",
            "[agent]",
            "[log]\nlog_level=INFO",
            "[agent]\nport=1\n[agent]\nport=2\n",
        ] {
            let c = Config::parse(Path::new("/x"), &with_agent_port(t, 4321)).unwrap();
            assert_eq!(c.port, 4321, "{t:?}");
        }
    }
}
