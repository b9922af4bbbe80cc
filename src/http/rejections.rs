//! Warnings about rejected tokens, at most one per interval: a manager polling with a stale token
//! (or a scanner) must not flood the journal, yet the operator still learns how many were turned
//! away.

use std::sync::Mutex;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);

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
}
