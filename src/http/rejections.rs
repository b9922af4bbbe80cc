//! Warnings about rejected tokens, at most one per interval: a manager polling with a stale token
//! (or a scanner) must not flood the journal, yet the operator still learns how many were turned
//! away. The same window, kept per address, limits the lines about refused connections.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);
/// Windows kept per key at most; a flood from many addresses must not grow memory without bound.
const MAX_KEYS: usize = 4096;

#[derive(Debug, Default)]
struct Window {
    last: Option<Instant>,
    held: u64,
}

static WINDOW: Mutex<Window> = Mutex::new(Window {
    last: None,
    held: 0,
});

/// Logs `line()` at WARNING unless a rejection was logged less than a second ago; those held
/// back are counted in the next line that is logged.
pub fn note(line: impl FnOnce() -> String) {
    if let Some(text) = admit(Instant::now(), line) {
        crate::warning!("{text}");
    }
}

fn admit(now: Instant, line: impl FnOnce() -> String) -> Option<String> {
    let mut w = WINDOW.lock().unwrap_or_else(|e| e.into_inner());
    admit_in(&mut w, now, line)
}

fn admit_in(w: &mut Window, now: Instant, line: impl FnOnce() -> String) -> Option<String> {
    if matches!(w.last, Some(t) if now.duration_since(t) < INTERVAL) {
        w.held += 1;
        return None;
    }
    w.last = Some(now);
    Some(match std::mem::take(&mut w.held) {
        0 => line(),
        n => format!(
            "{} (and {n} more rejected since the last such line)",
            line()
        ),
    })
}

/// One [`Window`] per key (a peer address): each key gets at most one line a second, with the
/// count of those held back since its last line.
pub struct PerKey<K> {
    windows: Mutex<HashMap<K, Window>>,
}

impl<K: Hash + Eq + Clone> PerKey<K> {
    pub fn new() -> PerKey<K> {
        PerKey {
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The line to log for `key` now, if any (see [`note`]).
    pub fn admit(&self, key: &K, now: Instant, line: impl FnOnce() -> String) -> Option<String> {
        let mut map = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            // Forget windows that are over; their held counts are lost only when the map is
            // full of addresses that all spoke within the last second.
            map.retain(|_, w| matches!(w.last, Some(t) if now.duration_since(t) < INTERVAL));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        admit_in(map.entry(key.clone()).or_default(), now, line)
    }
}

impl<K: Hash + Eq + Clone> Default for PerKey<K> {
    fn default() -> Self {
        PerKey::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let mut w = Window {
            last: None,
            held: 0,
        };
        let t0 = Instant::now();
        assert_eq!(admit_in(&mut w, t0, || "a".into()), Some("a".into()));
        for i in 1..=5 {
            let at = t0 + Duration::from_millis(100 * i);
            assert_eq!(admit_in(&mut w, at, || "b".into()), None);
        }
        let later = t0 + INTERVAL + Duration::from_millis(1);
        assert_eq!(
            admit_in(&mut w, later, || "c".into()),
            Some("c (and 5 more rejected since the last such line)".into())
        );
        let much_later = later + INTERVAL * 3;
        assert_eq!(
            admit_in(&mut w, much_later, || "d".into()),
            Some("d".into())
        );
    }

    #[test]
    fn per_key_windows_are_independent_and_bounded() {
        let p: PerKey<u32> = PerKey::new();
        let t0 = Instant::now();
        assert_eq!(p.admit(&1, t0, || "a1".into()), Some("a1".into()));
        assert_eq!(p.admit(&2, t0, || "a2".into()), Some("a2".into()));
        assert_eq!(p.admit(&1, t0, || "b1".into()), None);
        let later = t0 + INTERVAL;
        assert_eq!(
            p.admit(&1, later, || "c1".into()),
            Some("c1 (and 1 more rejected since the last such line)".into())
        );
        for k in 0..(MAX_KEYS as u32 * 3) {
            p.admit(&k, later, String::new);
        }
        assert!(p.windows.lock().unwrap().len() <= MAX_KEYS);
    }
}
