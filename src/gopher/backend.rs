//! The one interface the handlers see, whatever generation of gala-gopher is installed: list the
//! probes with their states, apply a set of changes, and say whether a restart is owed.

use super::Probe;

/// What systemd says of gala-gopher's unit, as far as probe control cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnitView {
    /// The daemon runs, so 2.x changes go to it rather than to probes.init.
    pub running: bool,
    /// The unit saves every probe's state into probes.init when it stops (an `ExecStop=`,
    /// 2.0.2 and later): then the running daemon is the only truth to change.
    pub saves_at_stop: bool,
}

/// The outcome of one collect/items/change for gala-gopher.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Item names, in request order.
    pub success: Vec<String>,
    pub failure: Vec<String>,
    /// Why each failed item failed, for the journal.
    pub reasons: Vec<(String, String)>,
    /// The change takes effect only once gala-gopher restarts (1.x).
    pub restart_owed: bool,
}

impl Applied {
    pub fn ok(&mut self, name: &str) {
        self.success.push(name.to_string());
    }

    pub fn fail(&mut self, name: &str, why: impl Into<String>) {
        self.failure.push(name.to_string());
        self.reasons.push((name.to_string(), why.into()));
    }

    /// Every item failed, for one reason.
    pub fn all_failed(items: &[(String, String)], why: &str) -> Applied {
        let mut a = Applied::default();
        for (name, _) in items {
            a.fail(name, why);
        }
        a
    }
}

pub trait Backend {
    /// plugin/info's collect_items; `[]` when there is nothing to list (the journal says why).
    fn list(&self, unit: &UnitView) -> Vec<Probe>;
    /// collect/items/change: `(probe, "on"|"off"|"auto")` in request order.
    fn apply(&self, unit: &UnitView, items: &[(String, String)]) -> Applied;
}
