//! Sets `[agent] port` in agent.conf by editing that one line, so comments, spacing, ordering
//! and every other key stay byte for byte (the previous agent rewrote the whole `[agent]`
//! section and lost `ip`).
//!
//! Lines are matched the way [`crate::config`] reads them: sections and keys are
//! case-sensitive, `=` or `:` separates, `;` and `#` start comment lines. The result is parsed
//! back before anything is written, so an edit the reader would see differently is refused.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;

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
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let value = port.to_string();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut section: Option<&str> = None;
    let mut replaced = false;
    // Where a missing key goes: after the last key of the first [agent] block (or its header),
    // copying that key's layout.
    let mut in_first_agent = false;
    let mut insert_after: Option<usize> = None;
    let mut layout: Option<usize> = None;
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
        if in_first_agent {
            insert_after = Some(i);
            layout = Some(i);
        }
        if key == "port" {
            let after = &body[sep + 1..];
            let lead = after.len() - after.trim_start().len();
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
            let new_line = match layout {
                Some(l) => {
                    let body = split_eol(lines[l]).0;
                    let (key, sep) = key_of(body).expect("layout line is a key line");
                    let indent = &body[..body.len() - body.trim_start().len()];
                    let before_sep = &body[indent.len() + key.len()..sep];
                    let after = &body[sep + 1..];
                    let lead = &after[..after.len() - after.trim_start().len()];
                    format!(
                        "{indent}port{before_sep}{}{lead}{value}",
                        &body[sep..sep + 1]
                    )
                }
                None => format!("port={value}"),
            };
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
            s.push_str(&format!("[agent]{file_eol}port={value}{file_eol}"));
            s
        }
    }
}

/// Sets `[agent] port` in the file at `path` (created when absent), atomically: a temporary
/// file beside it with the same mode and owner, fsync, rename. A failure leaves it untouched.
/// Returns whether the file changed.
pub fn set_agent_port(path: &Path, port: u16) -> Result<bool, ConfEditError> {
    // Edit the file a symlink points to; replacing the link would detach it from its target.
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let io_err = |err| ConfEditError::Io {
        file: real.clone(),
        err,
    };
    let (old, meta) = match fs::read(&real) {
        Ok(bytes) => (bytes, Some(fs::metadata(&real).map_err(io_err)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), None),
        Err(e) => return Err(io_err(e)),
    };
    let old = String::from_utf8(old).map_err(|_| ConfEditError::NotUtf8 { file: real.clone() })?;
    let new = with_agent_port(&old, port);
    match Config::parse(&real, &new) {
        Ok(c) if c.port == port => {}
        Ok(c) => {
            return Err(ConfEditError::Unreadable {
                file: real.clone(),
                reason: format!("the edited file would read back as port {}", c.port),
            })
        }
        Err(e) => {
            return Err(ConfEditError::Unreadable {
                file: real.clone(),
                reason: e.to_string(),
            })
        }
    }
    if new == old && meta.is_some() {
        return Ok(false);
    }
    write_atomic(&real, new.as_bytes(), meta.as_ref()).map_err(io_err)?;
    Ok(true)
}

fn write_atomic(path: &Path, bytes: &[u8], like: Option<&fs::Metadata>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mode = like.map(|m| m.mode() & 0o7777).unwrap_or(0o644);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if let Some(m) = like {
            std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))?;
        }
        // After the chown, which may clear setuid/setgid bits.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

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
