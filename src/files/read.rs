//! One file read for file/collect, with every rule that makes a path fail.
//!
//! The order matters: the path is `stat`ed (following symlinks) before anything is opened, so a
//! FIFO, socket or device is refused without an `open` that could block or have side effects.
//! The open itself is non-blocking and the opened descriptor is checked again, because the path
//! may have been replaced between the two calls. The credential rules are applied to the name
//! before anything is opened, to the opened descriptor, and to the bytes read.

use std::fmt;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::credentials::{self, Policy, Refusal};

/// Files larger than this fail; it is also the most that is ever read (plus one byte).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A file that passed every rule.
#[derive(Debug)]
pub struct TextFile {
    pub content: String,
    /// Metadata of the opened descriptor (the file that was actually read).
    pub meta: Metadata,
}

/// Why a path fails; shown in the journal, never sent to the manager.
#[derive(Debug)]
pub enum FileError {
    Relative,
    NotFound,
    Stat(io::Error),
    NotRegular(&'static str),
    Executable(u32),
    TooLarge(Option<u64>),
    Open(io::Error),
    Read(io::Error),
    NotUtf8(usize),
    /// A credential: which rule refused it.
    Credential(Refusal),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Relative => f.write_str("not an absolute path"),
            FileError::NotFound => f.write_str("does not exist"),
            FileError::Stat(e) => write!(f, "cannot stat: {e}"),
            FileError::NotRegular(kind) => write!(f, "not a regular file ({kind})"),
            FileError::Executable(mode) => write!(f, "has an execute bit (mode {mode:04o})"),
            FileError::TooLarge(Some(n)) => {
                write!(f, "larger than {MAX_FILE_BYTES} bytes ({n} bytes)")
            }
            FileError::TooLarge(None) => write!(f, "larger than {MAX_FILE_BYTES} bytes"),
            FileError::Open(e) => write!(f, "cannot open: {e}"),
            FileError::Read(e) => write!(f, "cannot read: {e}"),
            FileError::NotUtf8(at) => write!(f, "not valid UTF-8 (at byte {at})"),
            FileError::Credential(why) => write!(f, "refused: {why}"),
        }
    }
}

fn kind_of(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

/// The type and mode rules, applied to the path's metadata and again to the opened descriptor's.
fn check(m: &Metadata) -> Result<(), FileError> {
    if !m.file_type().is_file() {
        return Err(FileError::NotRegular(kind_of(m)));
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o111 != 0 {
        return Err(FileError::Executable(mode));
    }
    // /proc and /sys files claim size 0; the bounded read below is what really limits them.
    if m.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge(Some(m.len())));
    }
    Ok(())
}

/// Reads at most `limit + 1` bytes; more than `limit` is an error, whatever the file claimed.
pub fn read_bounded(r: impl Read, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut buf = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(FileError::Read)?;
    if buf.len() as u64 > limit {
        return Err(FileError::TooLarge(None));
    }
    Ok(buf)
}

/// Applies every file/collect rule to `path` and returns its text and metadata.
pub fn read_text_file(path: &Path, policy: &Policy) -> Result<TextFile, FileError> {
    if !path.is_absolute() {
        return Err(FileError::Relative);
    }
    policy.check_name(path).map_err(FileError::Credential)?;
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FileError::NotFound,
        _ => FileError::Stat(e),
    })?;
    check(&meta)?;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FileError::NotFound,
            _ => FileError::Open(e),
        })?;
    let meta = file.metadata().map_err(FileError::Stat)?;
    check(&meta)?;
    policy
        .check_opened(path, &file, &meta)
        .map_err(FileError::Credential)?;
    let bytes = read_bounded(&file, MAX_FILE_BYTES)?;
    if let Some(label) = credentials::private_key_label(&bytes) {
        return Err(FileError::Credential(Refusal::PrivateKey(label)));
    }
    let content =
        String::from_utf8(bytes).map_err(|e| FileError::NotUtf8(e.utf8_error().valid_up_to()))?;
    Ok(TextFile { content, meta })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_read_stops_one_byte_past_the_limit() {
        let ok = read_bounded(io::repeat(b'a').take(10), 10).unwrap();
        assert_eq!(ok.len(), 10);
        // An endless source: the read must stop, and fail.
        assert!(matches!(
            read_bounded(io::repeat(b'a'), 10),
            Err(FileError::TooLarge(None))
        ));
        // Exactly how much is consumed: limit + 1, never more.
        let mut src = io::Cursor::new(vec![b'x'; 100]);
        assert!(read_bounded(&mut src, 10).is_err());
        assert_eq!(src.position(), 11);
    }

    #[test]
    fn relative_paths_fail_before_any_lookup() {
        let policy = Policy::new(Path::new("/etc/aops/agent_token.json"), &[]);
        assert!(matches!(
            read_text_file(Path::new("etc/hosts"), &policy),
            Err(FileError::Relative)
        ));
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            FileError::Executable(0o4755).to_string(),
            "has an execute bit (mode 4755)"
        );
        assert_eq!(
            FileError::NotRegular("a FIFO").to_string(),
            "not a regular file (a FIFO)"
        );
        assert_eq!(
            FileError::NotUtf8(3).to_string(),
            "not valid UTF-8 (at byte 3)"
        );
    }
}
