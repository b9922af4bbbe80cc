//! Reading and replacing the configuration file: one read-modify-write at a time, in this
//! process (a mutex) and across processes (an exclusive `flock` on the file itself), and a
//! replacement that is atomic, durable and keeps the old mode and owner.
//!
//! The lock is taken on the file rather than on a lock file beside it so nothing extra appears
//! in gala-gopher's directory. Because a writer replaces the inode, a waiter checks after
//! locking that the path still names the inode it locked, and starts over when it does not.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::GopherError;

/// A configuration file is a few kilobytes; anything far larger is not one.
const MAX_SIZE: u64 = 16 * 1024 * 1024;

/// How long a change waits for another one to finish before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Serializes threads of this process; `flock` serializes processes.
static PROCESS_LOCK: Mutex<()> = Mutex::new(());

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The file, held under an exclusive lock, and what it said when locked.
pub struct Locked {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    meta: fs::Metadata,
    _file: File,
    _guard: std::sync::MutexGuard<'static, ()>,
}

fn io_err(path: &Path, what: &str, e: io::Error) -> GopherError {
    if e.kind() == io::ErrorKind::NotFound {
        GopherError::Missing(format!("{}: no such file", path.display()))
    } else {
        GopherError::Io(format!("{}: {what}: {e}", path.display()))
    }
}

/// Reads the whole file (bounded), without locking: writers replace it atomically.
pub fn read(path: &Path) -> Result<Vec<u8>, GopherError> {
    let file = open_nonblocking(path)?;
    read_bounded(path, &file)
}

/// Opening a FIFO for reading would wait for a writer; O_NONBLOCK makes it return at once
/// (and changes nothing for a regular file), so the type check can reject it.
fn open_nonblocking(path: &Path) -> Result<File, GopherError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| io_err(path, "open", e))
}

fn read_bounded(path: &Path, file: &File) -> Result<Vec<u8>, GopherError> {
    let meta = file.metadata().map_err(|e| io_err(path, "stat", e))?;
    if !meta.is_file() {
        return Err(GopherError::Io(format!(
            "{}: not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_SIZE) as usize);
    file.take(MAX_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(path, "read", e))?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(GopherError::Io(format!(
            "{}: larger than {MAX_SIZE} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Locks the file for a read-modify-write and reads it. Symlinks are followed so the file
/// they point at is the one replaced, and the link stays a link.
pub fn lock(path: &Path) -> Result<Locked, GopherError> {
    lock_within(path, LOCK_TIMEOUT)
}

fn lock_within(path: &Path, timeout: Duration) -> Result<Locked, GopherError> {
    let guard = PROCESS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = fs::canonicalize(path).map_err(|e| io_err(path, "resolve", e))?;
    let deadline = Instant::now() + timeout;
    loop {
        let file = open_nonblocking(&path)?;
        flock_until(&path, &file, deadline, timeout)?;
        let meta = file.metadata().map_err(|e| io_err(&path, "stat", e))?;
        // Another writer may have replaced the file while we waited for its old inode.
        match fs::metadata(&path) {
            Ok(now) if now.dev() == meta.dev() && now.ino() == meta.ino() => {}
            Ok(_) => continue,
            Err(e) => return Err(io_err(&path, "stat", e)),
        }
        let bytes = read_bounded(&path, &file)?;
        return Ok(Locked {
            path,
            bytes,
            meta,
            _file: file,
            _guard: guard,
        });
    }
}

fn flock_until(
    path: &Path,
    file: &File,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), GopherError> {
    let mut pause = Duration::from_millis(1);
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) && e.kind() != io::ErrorKind::Interrupted {
            return Err(io_err(path, "lock", e));
        }
        if Instant::now() >= deadline {
            return Err(GopherError::Io(format!(
                "{}: still locked by another change after {:?}",
                path.display(),
                timeout
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

impl Locked {
    /// Replaces the file with `bytes`: a temporary file in the same directory with the old
    /// owner and mode, flushed to disk, renamed over the old one, then the directory flushed.
    pub fn replace(&self, bytes: &[u8]) -> Result<(), GopherError> {
        self.replace_via(bytes, true)
    }

    fn replace_via(&self, bytes: &[u8], anonymous: bool) -> Result<(), GopherError> {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        remove_stale_temps(&self.path);
        // An unnamed file (O_TMPFILE) leaves nothing behind if we die before naming it. Where
        // the filesystem or our capabilities do not allow one, a named file does the job; a
        // real failure (disk full, no CAP_CHOWN) then repeats there and is reported.
        let tmp = if anonymous {
            self.anonymous_temp(dir, bytes).ok()
        } else {
            None
        };
        let tmp = match tmp {
            Some(t) => t,
            None => self.named_temp(dir, bytes)?,
        };
        if let Err(e) = fs::rename(&tmp, &self.path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&self.path, "rename temporary file", e));
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&self.path, "sync directory", e))
    }

    fn anonymous_temp(&self, dir: &Path, bytes: &[u8]) -> Result<PathBuf, GopherError> {
        let mut f = OpenOptions::new()
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir)
            .map_err(|e| io_err(&self.path, "create temporary file", e))?;
        self.fill(&mut f, bytes)?;
        let name = temp_name(&self.path, dir);
        link_anonymous(&f, &name).map_err(|e| io_err(&self.path, "name temporary file", e))?;
        Ok(name)
    }

    fn named_temp(&self, dir: &Path, bytes: &[u8]) -> Result<PathBuf, GopherError> {
        let name = temp_name(&self.path, dir);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&name)
            .map_err(|e| io_err(&self.path, "create temporary file", e))?;
        if let Err(e) = self.fill(&mut f, bytes) {
            let _ = fs::remove_file(&name);
            return Err(e);
        }
        Ok(name)
    }

    /// Content, then the old owner and mode, then flushed to disk.
    fn fill(&self, f: &mut File, bytes: &[u8]) -> Result<(), GopherError> {
        let err = |what: &str, e: io::Error| io_err(&self.path, what, e);
        f.write_all(bytes)
            .map_err(|e| err("write temporary file", e))?;
        let (uid, gid) = (self.meta.uid(), self.meta.gid());
        let mine = f.metadata().map_err(|e| err("stat temporary file", e))?;
        if (mine.uid(), mine.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(&*f, Some(uid), Some(gid))
                .map_err(|e| err(&format!("keep owner {uid}:{gid} (needs CAP_CHOWN)"), e))?;
        }
        // After chown, which clears set-id bits.
        f.set_permissions(Permissions::from_mode(self.meta.mode() & 0o7777))
            .map_err(|e| err("keep mode", e))?;
        f.sync_all().map_err(|e| err("sync temporary file", e))
    }
}

fn temp_prefix(path: &Path) -> Vec<u8> {
    let mut p = b".".to_vec();
    p.extend_from_slice(path.file_name().map_or(&b""[..], |n| n.as_bytes()));
    p.extend_from_slice(b".aops-tmp-");
    p
}

fn temp_name(path: &Path, dir: &Path) -> PathBuf {
    let mut name = temp_prefix(path);
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    name.extend_from_slice(format!("{}-{n}", std::process::id()).as_bytes());
    dir.join(std::ffi::OsStr::from_bytes(&name))
}

/// Gives an O_TMPFILE file a name, so it can then be renamed over the target.
fn link_anonymous(file: &File, name: &Path) -> io::Result<()> {
    let to = CString::new(name.as_os_str().as_bytes())?;
    // SAFETY: both paths are NUL-terminated and outlive the calls.
    let rc = unsafe {
        libc::linkat(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link works for anyone.
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    // SAFETY: as above.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Temporary files left by a change that was killed between naming and renaming its file.
/// Only called under the lock, when no other change can be writing one.
fn remove_stale_temps(path: &Path) {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let prefix = temp_prefix(path);
    let Ok(list) = fs::read_dir(dir) else { return };
    for entry in list.flatten() {
        if entry.file_name().as_bytes().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Names of leftover temporary files beside `path` (for checks after a crash).
pub fn stale_temps(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let prefix = temp_prefix(path);
    fs::read_dir(dir)
        .map(|list| {
            list.flatten()
                .filter(|e| e.file_name().as_bytes().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gopher-store-{tag}-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replace_keeps_mode_and_follows_symlinks() {
        let d = tempdir("replace");
        let real = d.join("real.conf");
        fs::write(&real, "a = 1;").unwrap();
        fs::set_permissions(&real, Permissions::from_mode(0o640)).unwrap();
        let link = d.join("link.conf");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let l = lock(&link).unwrap();
        assert_eq!(l.bytes, b"a = 1;");
        l.replace(b"a = 2;").unwrap();
        drop(l);
        assert_eq!(fs::read(&real).unwrap(), b"a = 2;");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o7777, 0o640);
        assert!(stale_temps(&real).is_empty());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn named_temp_fallback_keeps_mode_and_leaves_nothing() {
        let d = tempdir("named");
        let f = d.join("g.conf");
        fs::write(&f, "a = 1;").unwrap();
        fs::set_permissions(&f, Permissions::from_mode(0o604)).unwrap();
        lock(&f).unwrap().replace_via(b"a = 3;", false).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"a = 3;");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o604);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn stale_temps_are_removed_by_the_next_change() {
        let d = tempdir("stale");
        let f = d.join("g.conf");
        fs::write(&f, "a = 1;").unwrap();
        let stale = temp_name(&f, &d);
        fs::write(&stale, "half").unwrap();
        fs::write(d.join("unrelated.tmp"), "x").unwrap();
        assert_eq!(stale_temps(&f), vec![stale.clone()]);
        lock(&f).unwrap().replace(b"a = 2;").unwrap();
        assert!(!stale.exists());
        assert!(d.join("unrelated.tmp").exists());
        fs::remove_dir_all(d).unwrap();
    }

    fn flock(f: &File) {
        // SAFETY: flock on a descriptor we own.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
    }

    #[test]
    fn a_lock_held_too_long_is_an_error() {
        let d = tempdir("timeout");
        let f = d.join("g.conf");
        fs::write(&f, "a = 1;").unwrap();
        let held = File::open(&f).unwrap();
        flock(&held);
        let e = lock_within(&f, Duration::from_millis(100)).err().unwrap();
        assert!(e.to_string().contains("still locked"), "{e}");
        drop(held);
        assert!(lock_within(&f, Duration::from_millis(100)).is_ok());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_waiter_follows_the_file_that_replaced_the_one_it_waited_for() {
        let d = tempdir("follow");
        let f = d.join("g.conf");
        fs::write(&f, "a = 1;").unwrap();
        let held = File::open(&f).unwrap();
        flock(&held);
        let path = f.clone();
        let waiter = std::thread::spawn(move || lock(&path).map(|l| l.bytes));
        std::thread::sleep(Duration::from_millis(100));
        // What another writer does: a new inode renamed over the path, then unlock the old.
        let new = d.join("new");
        fs::write(&new, "a = 2;").unwrap();
        fs::rename(&new, &f).unwrap();
        drop(held);
        assert_eq!(waiter.join().unwrap().unwrap(), b"a = 2;");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_and_non_regular_files_are_errors() {
        let d = tempdir("missing");
        assert!(matches!(
            lock(&d.join("nope")),
            Err(GopherError::Missing(_))
        ));
        assert!(matches!(
            read(&d.join("nope")),
            Err(GopherError::Missing(_))
        ));
        assert!(matches!(read(&d), Err(GopherError::Io(_))));
        let fifo = d.join("fifo");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(lock(&fifo).is_err());
        fs::remove_dir_all(d).unwrap();
    }
}
