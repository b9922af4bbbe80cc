//! `journalctl`, read-only and bounded: the last entries a unit logged at a priority.

use std::path::PathBuf;
use std::time::Duration;

use crate::bounded::{self, RunError};

/// Where the `journalctl` program is taken from; integration tests point it at a stand-in.
pub const PROGRAM_ENV: &str = "AOPS_AGENT_JOURNALCTL";

pub struct Journalctl {
    program: PathBuf,
    timeout: Duration,
}

impl Journalctl {
    /// `journalctl` from `PATH`, or the program named by `AOPS_AGENT_JOURNALCTL`.
    pub fn from_env(timeout: Duration) -> Journalctl {
        Journalctl {
            program: bounded::program_from_env(PROGRAM_ENV, "journalctl"),
            timeout,
        }
    }

    /// The last `n` entries of `unit` at `priority` or more urgent (`err`, `warning`...), oldest
    /// first, one `short-iso` line each (timestamp, host, identifier, message).
    pub fn last_entries(
        &self,
        unit: &str,
        priority: &str,
        n: usize,
    ) -> Result<Vec<String>, RunError> {
        let n = n.to_string();
        let args = [
            "--no-pager",
            "--quiet",
            "--output=short-iso",
            "--unit",
            unit,
            "--priority",
            priority,
            "--lines",
            n.as_str(),
        ];
        let text = bounded::output(&self.program, &args, self.timeout)?;
        Ok(text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("-- "))
            .map(str::to_string)
            .collect())
    }
}
