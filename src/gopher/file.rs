//! gala-gopher 1.x: probes are the `probes`/`extend_probes` entries of gala-gopher.conf, switched
//! by editing `switch` in place, and a change takes effect when gala-gopher restarts.

use std::path::Path;

use super::backend::{Applied, Backend, UnitView};
use super::{apply_switches, read_probes, Probe};

pub struct File<'a> {
    pub config: &'a Path,
}

impl Backend for File<'_> {
    fn list(&self, _unit: &UnitView) -> Vec<Probe> {
        match read_probes(self.config) {
            Ok(probes) => probes,
            Err(e) => {
                crate::warning!("no probes listed from {}: {e}", self.config.display());
                Vec::new()
            }
        }
    }

    fn apply(&self, _unit: &UnitView, items: &[(String, String)]) -> Applied {
        match apply_switches(self.config, items) {
            Ok(result) => {
                if result.changed {
                    crate::info!(
                        "{}: switched {}",
                        self.config.display(),
                        result.success.join(", ")
                    );
                }
                let mut out = Applied {
                    success: result.success,
                    restart_owed: result.changed,
                    ..Applied::default()
                };
                for name in result.failure {
                    out.fail(
                        &name,
                        format!(
                            "{} has no probe {name:?} that takes this state (auto needs \
                             start_check)",
                            self.config.display()
                        ),
                    );
                }
                out
            }
            Err(e) => Applied::all_failed(
                items,
                &format!("{} left as it was: {e}", self.config.display()),
            ),
        }
    }
}
