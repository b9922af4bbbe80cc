//! Remembering a fact that is expensive to read but changes only with hotplug, checked against
//! a cheap fingerprint that changes whenever the fact can.
//!
//! Counting online memory reads one sysfs file per memory block (hundreds on a large host) and
//! cache sizes one per CPU and cache level; at a few microseconds per syscall that alone would
//! blow the per-request budget. Both figures move only when memory or CPUs are hot-plugged,
//! and each has a one-file witness that moves with it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Memo<T> {
    slot: Mutex<Option<(PathBuf, String, T)>>,
}

impl<T: Clone> Default for Memo<T> {
    fn default() -> Memo<T> {
        Memo::new()
    }
}

impl<T: Clone> Memo<T> {
    pub const fn new() -> Memo<T> {
        Memo {
            slot: Mutex::new(None),
        }
    }

    /// The remembered value for this root and fingerprint, or `compute()` (then remembered).
    /// Without a fingerprint nothing is remembered.
    pub fn get(&self, root: &Path, fingerprint: Option<String>, compute: impl FnOnce() -> T) -> T {
        let Some(fingerprint) = fingerprint else {
            return compute();
        };
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((r, f, value)) = slot.as_ref() {
            if r == root && *f == fingerprint {
                return value.clone();
            }
        }
        let value = compute();
        *slot = Some((root.to_path_buf(), fingerprint, value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recomputes_when_the_fingerprint_or_root_changes() {
        let memo = Memo::new();
        let mut calls = 0;
        let mut get = |root: &str, fp: Option<&str>| {
            memo.get(Path::new(root), fp.map(str::to_string), || {
                calls += 1;
                calls
            })
        };
        assert_eq!(get("/", Some("a")), 1);
        assert_eq!(get("/", Some("a")), 1);
        assert_eq!(get("/", Some("b")), 2);
        assert_eq!(get("/x", Some("b")), 3);
        assert_eq!(get("/x", None), 4);
        assert_eq!(get("/x", None), 5);
        assert_eq!(get("/x", Some("b")), 3);
    }
}
