//! Coalesced `try-restart`: a burst of configuration changes leads to at most one restart in
//! flight plus one pending, started at least `spacing` apart, so systemd's start limit
//! (5 starts in 10 s by default) is never reached. Restarts run on their own thread, never on the
//! thread that serves connections nor in the request that asked for them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Systemd;

/// Five starts in ten seconds trip the default limit; one every three seconds never does.
pub const MIN_SPACING: Duration = Duration::from_secs(3);

#[derive(Default)]
struct State {
    /// A worker thread is restarting or about to.
    running: bool,
    /// A change arrived after the running restart began: one more is owed.
    pending: bool,
    last_start: Option<Instant>,
}

pub struct Restarter {
    systemd: Arc<dyn Systemd>,
    unit: String,
    spacing: Duration,
    state: Arc<Mutex<State>>,
}

impl Restarter {
    pub fn new(systemd: Arc<dyn Systemd>, unit: &str, spacing: Duration) -> Restarter {
        Restarter {
            systemd,
            unit: unit.to_string(),
            spacing,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Asks for a restart that begins after this call. Returns at once.
    pub fn schedule(&self) {
        {
            let mut s = lock(&self.state);
            if s.running {
                s.pending = true;
                return;
            }
            s.running = true;
        }
        let systemd = Arc::clone(&self.systemd);
        let state = Arc::clone(&self.state);
        let unit = self.unit.clone();
        let spacing = self.spacing;
        let spawned = std::thread::Builder::new()
            .name("try-restart".into())
            .spawn(move || worker(&*systemd, &state, &unit, spacing));
        if let Err(e) = spawned {
            lock(&self.state).running = false;
            crate::error!("cannot restart {}: no thread for it: {e}", self.unit);
        }
    }

    /// No restart is running or owed (tests wait for this).
    pub fn idle(&self) -> bool {
        let s = lock(&self.state);
        !s.running && !s.pending
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // The state stays consistent even if a holder panicked: every update is a single field.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker(systemd: &dyn Systemd, state: &Mutex<State>, unit: &str, spacing: Duration) {
    loop {
        let wait = lock(state)
            .last_start
            .map(|t| spacing.saturating_sub(t.elapsed()))
            .unwrap_or_default();
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        {
            let mut s = lock(state);
            s.last_start = Some(Instant::now());
            // Changes from now on are covered only by a later restart.
            s.pending = false;
        }
        match systemd.try_restart(unit) {
            Ok(()) => crate::info!(
                "restarted {unit} (if it was running) to apply a changed configuration"
            ),
            Err(e) => crate::error!("cannot restart {unit} after a configuration change: {e}"),
        }
        let mut s = lock(state);
        if !s.pending {
            s.running = false;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::{SystemdError, UnitProps};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts restarts; each takes `took` and records when it began.
    struct Slow {
        took: Duration,
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        starts: Mutex<Vec<Instant>>,
    }

    impl Systemd for Slow {
        fn show(&self, _: &[&str], _: &[&str]) -> Result<Vec<UnitProps>, SystemdError> {
            unreachable!()
        }
        fn loaded_states(&self, _: &[&str]) -> Result<Vec<(String, String)>, SystemdError> {
            unreachable!()
        }
        fn start(&self, _: &str) -> Result<(), SystemdError> {
            unreachable!()
        }
        fn stop(&self, _: &str) -> Result<(), SystemdError> {
            unreachable!()
        }
        fn try_restart(&self, _: &str) -> Result<(), SystemdError> {
            let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(n, Ordering::SeqCst);
            self.starts.lock().unwrap().push(Instant::now());
            std::thread::sleep(self.took);
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn slow(took: Duration) -> Arc<Slow> {
        Arc::new(Slow {
            took,
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            starts: Mutex::new(Vec::new()),
        })
    }

    fn wait_idle(r: &Restarter) {
        let until = Instant::now() + Duration::from_secs(10);
        while !r.idle() {
            assert!(Instant::now() < until, "restarts never settled");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_burst_gives_one_restart_now_and_one_after() {
        let sd = slow(Duration::from_millis(50));
        let spacing = Duration::from_millis(200);
        let r = Restarter::new(sd.clone(), "gala-gopher.service", spacing);
        r.schedule();
        while sd.in_flight.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The spacing is counted from when the first restart was decided, which precedes the
        // stand-in's own record of it by a scheduling delay that can be long on a loaded (or
        // emulated) machine: measure from the decision.
        let first = lock(&r.state).last_start.expect("first restart recorded");
        for _ in 0..19 {
            r.schedule();
        }
        wait_idle(&r);
        assert_eq!(sd.calls.load(Ordering::SeqCst), 2);
        assert_eq!(sd.max_in_flight.load(Ordering::SeqCst), 1);
        let starts = sd.starts.lock().unwrap();
        assert!(starts[0] >= first);
        assert!(
            starts[1] - first >= spacing,
            "restarts closer than the spacing"
        );
    }

    #[test]
    fn a_change_during_a_restart_gets_a_later_restart() {
        let sd = slow(Duration::from_millis(100));
        let r = Restarter::new(sd.clone(), "u", Duration::from_millis(10));
        r.schedule();
        while sd.in_flight.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let changed_at = Instant::now();
        r.schedule();
        wait_idle(&r);
        assert_eq!(sd.calls.load(Ordering::SeqCst), 2);
        assert!(*sd.starts.lock().unwrap().last().unwrap() > changed_at);
    }

    #[test]
    fn spaced_changes_each_restart() {
        let sd = slow(Duration::from_millis(1));
        let r = Restarter::new(sd.clone(), "u", Duration::from_millis(1));
        for _ in 0..3 {
            r.schedule();
            wait_idle(&r);
        }
        assert_eq!(sd.calls.load(Ordering::SeqCst), 3);
    }
}
