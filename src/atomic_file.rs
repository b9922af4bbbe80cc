//! Replacing a small file so that a reader sees the old content or the new one, never a part,
//! and a crash or a failed write leaves the old file as it was.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path` (its directory is created, mode 0755, when
/// absent), gives it `mode` and, when asked, an owner and group, fsyncs it, renames it over
/// `path` and fsyncs the directory. On failure the temporary file is removed.
pub fn replace(path: &Path, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        // Private until complete: nobody reads a secret or a half-written file through it.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        // After the chown, which may clear setuid/setgid bits, and exact despite the umask.
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
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_with_mode_and_leaves_no_temporary_file() {
        let d = std::env::temp_dir().join(format!("aops-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let p = d.join("sub/file.conf");
        replace(&p, b"one", 0o640, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        replace(&p, b"two", 0o600, Some((4242, 4343))).unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o600, 4242, 4343));
        assert_eq!(fs::read_dir(d.join("sub")).unwrap().count(), 1);
        // A directory in the way: the write fails and the old file stays.
        let blocked =
            d.join("sub/.file.conf.{}.tmp".replace("{}", &std::process::id().to_string()));
        fs::create_dir(&blocked).unwrap();
        assert!(replace(&p, b"three", 0o600, None).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        fs::remove_dir_all(&d).unwrap();
    }
}
