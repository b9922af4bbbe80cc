//! The directory every fact is read under: `/` on a host, a recorded tree in tests.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// No fact file is anywhere near this; a bound keeps a strange file from costing memory.
const MAX_FILE: usize = 16 << 20;

/// `AOPS_AGENT_SYSROOT` points the fact readers at a recorded tree (tests); default `/`.
/// Host facts and the registration's host identity are both read under it.
pub fn sysroot_from_env() -> PathBuf {
    match std::env::var_os("AOPS_AGENT_SYSROOT") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/"),
    }
}

pub struct Root {
    base: PathBuf,
}

impl Root {
    pub fn new(base: &Path) -> Root {
        Root {
            base: base.to_path_buf(),
        }
    }

    pub fn base(&self) -> &Path {
        &self.base
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
        match read_file(&path) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => {
                crate::debug!("host facts: cannot read {}: {}", path.display(), e);
                None
            }
        }
    }

    /// A text file that may legitimately be absent (no log line).
    pub fn read_optional(&self, rel: &str) -> Option<String> {
        read_file(&self.path(rel))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A one-line sysfs attribute, trimmed.
    pub fn attr(&self, rel: &str) -> Option<String> {
        self.read(rel).map(|s| s.trim().to_string())
    }

    pub fn read_bytes(&self, rel: &str) -> io::Result<Vec<u8>> {
        read_file(&self.path(rel))
    }

    /// The start of a file, at least up to its first blank line (or all of it): /proc/cpuinfo
    /// is generated per CPU as it is read, and one CPU's block is all we need.
    pub fn read_first_block(&self, rel: &str) -> Option<String> {
        let path = self.path(rel);
        let result = (|| {
            let mut f = File::open(&path)?;
            let mut text = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = f.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                // A blank line may straddle two chunks.
                let from = text.len().saturating_sub(1);
                text.extend_from_slice(&chunk[..n]);
                if text[from..].windows(2).any(|w| w == b"\n\n") || text.len() >= MAX_FILE {
                    break;
                }
            }
            Ok::<_, io::Error>(String::from_utf8_lossy(&text).into_owned())
        })();
        match result {
            Ok(s) => Some(s),
            Err(e) => {
                crate::debug!("host facts: cannot read {}: {}", path.display(), e);
                None
            }
        }
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

/// Reads a whole file in as few syscalls as sysfs allows: open, one read, close. A read shorter
/// than the buffer is the end for sysfs and procfs attributes and for regular files, so the
/// usual size probe and final empty read are skipped; they triple the cost of a host/info call
/// on a machine with hundreds of memory blocks.
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf[len..])?;
        len += n;
        if n == 0 || len < buf.len() || len >= MAX_FILE {
            break;
        }
        buf.resize((buf.len() * 2).min(MAX_FILE), 0);
    }
    buf.truncate(len);
    Ok(buf)
}

/// The running kernel's machine and release, from uname(2): one syscall where the /proc files
/// would cost an open, a read and a close each request.
pub struct Uname {
    pub machine: String,
    pub release: String,
}

pub fn uname() -> Option<Uname> {
    // SAFETY: uname fills the zeroed struct we own; the fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: a NUL-terminated field of the struct above.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Some(Uname {
        machine: field(&u.machine),
        release: field(&u.release),
    })
}

/// Total usable RAM in bytes from sysinfo(2), which moves exactly when MemTotal does, without
/// the cost of generating /proc/meminfo.
pub fn total_ram() -> Option<u64> {
    // SAFETY: sysinfo fills the zeroed struct we own.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    if unsafe { libc::sysinfo(&mut si) } != 0 {
        return None;
    }
    // c_ulong is 32 bits on some targets: widen before multiplying.
    #[allow(clippy::useless_conversion)]
    let total = u64::from(si.totalram);
    total.checked_mul(u64::from(si.mem_unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_of_any_size() {
        let dir = std::env::temp_dir().join(format!("aops-root-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for size in [0usize, 1, 4095, 4096, 4097, 100_000] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let p = dir.join(format!("f{size}"));
            std::fs::write(&p, &data).unwrap();
            assert_eq!(read_file(&p).unwrap(), data, "{size}");
        }
        let root = Root::new(&dir);
        let small = "a: 1\nb: 2\n\na: 3\n";
        std::fs::write(dir.join("small"), small).unwrap();
        assert_eq!(root.read_first_block("/small").as_deref(), Some(small));
        // Stops after the chunk holding the first blank line, here one straddling two chunks.
        let mut big = "x".repeat(4095);
        big.push_str("\n\n");
        big.push_str(&"y".repeat(20_000));
        std::fs::write(dir.join("big"), &big).unwrap();
        assert_eq!(root.read_first_block("/big").unwrap().len(), 8192);
        assert_eq!(root.read_first_block("/missing"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
