//! The directory every fact is read under: `/` on a host, a recorded tree in tests.

use std::io;
use std::path::{Path, PathBuf};

pub struct Root {
    base: PathBuf,
}

impl Root {
    pub fn new(base: &Path) -> Root {
        Root {
            base: base.to_path_buf(),
        }
    }

    /// `rel` is an absolute-looking system path such as `/proc/cpuinfo`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel.trim_start_matches('/'))
    }

    /// Whether facts come from the running system, where syscalls may stand in for files.
    pub fn is_live(&self) -> bool {
        self.base == Path::new("/")
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// A text file, or `None` with a DEBUG line saying why: a missing fact is not an error.
    pub fn read(&self, rel: &str) -> Option<String> {
        let path = self.path(rel);
        match std::fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => {
                crate::debug!("host facts: cannot read {}: {}", path.display(), e);
                None
            }
        }
    }

    /// A text file that may legitimately be absent (no log line).
    pub fn read_optional(&self, rel: &str) -> Option<String> {
        std::fs::read(self.path(rel))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A one-line sysfs attribute, trimmed.
    pub fn attr(&self, rel: &str) -> Option<String> {
        self.read(rel).map(|s| s.trim().to_string())
    }

    pub fn read_bytes(&self, rel: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(rel))
    }

    /// Entry names of a directory, sorted; empty (with a DEBUG line) when unreadable.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let path = self.path(rel);
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                names.sort();
                names
            }
            Err(e) => {
                crate::debug!("host facts: cannot list {}: {}", path.display(), e);
                Vec::new()
            }
        }
    }
}
