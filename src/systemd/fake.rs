//! An in-memory [`Systemd`] for unit tests: units with fixed properties, a record of every call,
//! and jobs that can be made to fail.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Systemd, SystemdError, UnitProps};

#[derive(Default)]
pub struct Fake {
    /// Installed units and their properties; any other unit is `not-found`.
    pub units: Mutex<HashMap<String, HashMap<String, String>>>,
    /// `"show a,b"`, `"start u"`, ... in call order.
    pub calls: Mutex<Vec<String>>,
    /// When set, start/stop/try-restart fail with this reason.
    pub job_failure: Mutex<Option<String>>,
}

impl Fake {
    pub fn with_unit(self, unit: &str, props: &[(&str, &str)]) -> Fake {
        let map = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.units.lock().unwrap().insert(unit.to_string(), map);
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn job(&self, verb: &str, unit: &str, state: Option<&str>) -> Result<(), SystemdError> {
        self.calls.lock().unwrap().push(format!("{verb} {unit}"));
        if let Some(reason) = self.job_failure.lock().unwrap().clone() {
            return Err(SystemdError::Failed {
                command: format!("systemctl {verb} {unit}"),
                reason,
            });
        }
        if let (Some(state), Some(u)) = (state, self.units.lock().unwrap().get_mut(unit)) {
            u.insert("ActiveState".into(), state.into());
        }
        Ok(())
    }
}

impl Systemd for Fake {
    fn show(&self, units: &[&str], props: &[&str]) -> Result<Vec<UnitProps>, SystemdError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("show {}", units.join(",")));
        let known = self.units.lock().unwrap();
        Ok(units
            .iter()
            .map(|u| {
                let mut out = HashMap::new();
                for p in props {
                    let v = match known.get(*u) {
                        Some(m) => m.get(*p).cloned().unwrap_or_default(),
                        None if *p == "LoadState" => "not-found".into(),
                        None if *p == "ActiveState" => "inactive".into(),
                        None => String::new(),
                    };
                    out.insert(p.to_string(), v);
                }
                UnitProps(out)
            })
            .collect())
    }

    fn loaded_states(&self, units: &[&str]) -> Result<Vec<(String, String)>, SystemdError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("list-units {}", units.join(",")));
        let known = self.units.lock().unwrap();
        Ok(units
            .iter()
            .filter_map(|u| {
                let m = known.get(*u)?;
                let state = m.get("ActiveState").cloned().unwrap_or_default();
                Some((u.to_string(), state))
            })
            .collect())
    }

    fn start(&self, unit: &str) -> Result<(), SystemdError> {
        self.job("start", unit, Some("active"))
    }

    fn stop(&self, unit: &str) -> Result<(), SystemdError> {
        self.job("stop", unit, Some("inactive"))
    }

    fn try_restart(&self, unit: &str) -> Result<(), SystemdError> {
        self.job("try-restart", unit, None)
    }
}

/// A directory under the temp dir for one test, removed when dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("aops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
